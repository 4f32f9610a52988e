#include <catch2/catch.hpp>
#include <cmath>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "metrics/status/status_json.h"
#include "metrics/status/status_ring.h"

using namespace mlsidecar::status;
using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;
using Clock = std::chrono::steady_clock;

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

MetricFamily counter(const std::string& name, std::vector<ClientMetric::Label> labels, double v) {
  MetricFamily f;
  f.name = name;
  f.type = MetricType::Counter;
  ClientMetric m;
  m.label = std::move(labels);
  m.counter.value = v;
  f.metric.push_back(m);
  return f;
}

MetricFamily gauge(const std::string& name, std::vector<ClientMetric::Label> labels, double v) {
  MetricFamily f = counter(name, std::move(labels), 0);
  f.type = MetricType::Gauge;
  f.metric[0].gauge.value = v;
  return f;
}

MetricFamily histogram(const std::string& name, std::vector<ClientMetric::Label> labels,
                       std::vector<std::pair<double, std::uint64_t>> buckets) {
  MetricFamily f;
  f.name = name;
  f.type = MetricType::Histogram;
  ClientMetric m;
  m.label = std::move(labels);
  for (auto [le, n] : buckets) {
    ClientMetric::Bucket b;
    b.upper_bound = le;
    b.cumulative_count = n;
    m.histogram.bucket.push_back(b);
  }
  m.histogram.sample_count = buckets.back().second;
  f.metric.push_back(m);
  return f;
}

BucketCounts buckets(const std::vector<std::pair<double, double>>& b) {
  BucketCounts out;
  for (auto [le, n] : b) out.cumulative[le] = n;
  return out;
}

// A scrape of the families the status page reads, as the sidecar would give them.
std::vector<MetricFamily> scrape(double ok, double errors, double health,
                                 std::vector<std::pair<double, std::uint64_t>> latency) {
  std::vector<MetricFamily> out;
  MetricFamily requests = counter("mlsidecar_requests_total",
                                  {{"model", "m"}, {"route", "predict"}, {"code", "2xx"}}, ok);
  requests.metric.push_back(
      counter("x", {{"model", "m"}, {"route", "predict"}, {"code", "5xx"}}, errors).metric[0]);
  requests.metric.push_back(
      counter("x", {{"model", "m"}, {"route", "health"}, {"code", "5xx"}}, health).metric[0]);
  out.push_back(requests);
  out.push_back(histogram("mlsidecar_request_duration_seconds",
                          {{"model", "m"}, {"route", "predict"}}, std::move(latency)));
  // Health checks are not part of the latency the page shows.
  out.push_back(histogram("mlsidecar_request_duration_seconds",
                          {{"model", "m"}, {"route", "health"}}, {{0.01, 1000}, {kInf, 1000}}));
  out.push_back(gauge("mlsidecar_inflight_requests", {}, 3));
  out.push_back(gauge("mlsidecar_autoscale_load_ratio", {{"window", "panic"}}, 9));
  out.push_back(gauge("mlsidecar_autoscale_load_ratio", {{"window", "stable"}}, 0.5));
  return out;
}

}  // namespace

TEST_CASE("histogram_quantile interpolates as promql does") {
  // 30 in (0, 0.01], 20 in (0.01, 0.1]: the p50 is rank 25, at 25/30 of the first bucket.
  const BucketCounts b = buckets({{0.01, 30}, {0.1, 50}, {kInf, 50}});
  CHECK(histogram_quantile(0.5, b) == Approx(0.01 * 25.0 / 30.0));
  // p99 is rank 49.5: 19.5 of the 20 in (0.01, 0.1].
  CHECK(histogram_quantile(0.99, b) == Approx(0.01 + 0.09 * 19.5 / 20.0));
  // A rank in the +Inf bucket gives the highest finite bound.
  CHECK(histogram_quantile(0.99, buckets({{0.01, 30}, {0.1, 50}, {kInf, 100}})) == 0.1);
  // No observations, no +Inf bucket, a single bucket: not a number.
  CHECK(std::isnan(histogram_quantile(0.5, buckets({{0.01, 0}, {kInf, 0}}))));
  CHECK(std::isnan(histogram_quantile(0.5, buckets({{0.01, 3}, {0.1, 5}}))));
  CHECK(std::isnan(histogram_quantile(0.5, buckets({{kInf, 5}}))));
  // A first bound at or below zero is returned as is.
  CHECK(histogram_quantile(0.1, buckets({{-1, 5}, {1, 10}, {kInf, 10}})) == -1);
}

TEST_CASE("bucket_delta subtracts bound by bound and never goes below zero") {
  const BucketCounts d = bucket_delta(buckets({{0.01, 60}, {0.1, 90}, {kInf, 90}}),
                                      buckets({{0.01, 30}, {0.1, 40}, {kInf, 40}}));
  CHECK(d.cumulative.at(0.01) == 30);
  CHECK(d.cumulative.at(0.1) == 50);
  CHECK(d.count() == 50);
  // A counter that went back (a restart) is an empty interval, not a negative one.
  CHECK(bucket_delta(buckets({{kInf, 1}}), buckets({{kInf, 9}})).count() == 0);
}

TEST_CASE("take_snapshot reads the families by name and leaves health out") {
  const StatusSnapshot s =
      take_snapshot(scrape(90, 10, 7, {{0.01, 30}, {0.1, 40}, {kInf, 40}}), Clock::now(), 100);
  CHECK(s.requests == 100);
  CHECK(s.errors == 10);
  CHECK(s.latency.count() == 40);
  CHECK(s.in_flight == 3);
  REQUIRE(s.load_ratio);
  CHECK(*s.load_ratio == 0.5);
  CHECK_FALSE(s.output_tokens);  // no LLM family in this scrape
  CHECK(s.shadow.empty());
}

TEST_CASE("the ring's series are rates and quantiles of the deltas between snapshots") {
  const Clock::time_point t0{};
  StatusRing ring(3);
  ring.push(take_snapshot(scrape(40, 0, 0, {{0.01, 30}, {0.1, 40}, {kInf, 40}}), t0, 1000));
  ring.push(take_snapshot(scrape(85, 5, 0, {{0.01, 60}, {0.1, 90}, {kInf, 90}}),
                          t0 + std::chrono::seconds(5), 1005));
  // Nothing between the second and the third: a zero rate, unknown ratio and quantiles.
  ring.push(take_snapshot(scrape(85, 5, 0, {{0.01, 60}, {0.1, 90}, {kInf, 90}}),
                          t0 + std::chrono::seconds(10), 1010));
  const std::vector<StatusPoint> points = ring.series();
  REQUIRE(points.size() == 2);
  CHECK(points[0].unix_seconds == 1005);
  CHECK(points[0].seconds == 5);
  CHECK(points[0].requests_per_second == 10);
  REQUIRE(points[0].error_ratio);
  CHECK(*points[0].error_ratio == 0.1);
  REQUIRE(points[0].p50);
  CHECK(*points[0].p50 == Approx(0.01 * 25.0 / 30.0));
  CHECK(points[1].requests_per_second == 0);
  CHECK_FALSE(points[1].error_ratio);
  CHECK_FALSE(points[1].p99);
  const StatusWindow w = ring.window();
  CHECK(w.seconds == 10);
  CHECK(w.requests == 50);
  CHECK(w.errors == 5);
}

TEST_CASE("the ring is bounded: the oldest snapshot goes first") {
  const Clock::time_point t0{};
  StatusRing ring(3);
  for (int i = 0; i < 10; ++i) {
    ring.push(take_snapshot(scrape(10.0 * i, 0, 0, {{0.01, 0}, {kInf, 0}}),
                            t0 + std::chrono::seconds(5 * i), 5.0 * i));
  }
  CHECK(ring.size() == 3);
  CHECK(ring.series().size() == 2);
  CHECK(ring.window().requests == 20);  // snapshots 7..9
  CHECK(ring.series().front().unix_seconds == 40);
  CHECK(StatusRing(0).capacity() == 2);
}

TEST_CASE("shadow families are read generically, summed by version") {
  std::vector<MetricFamily> f;
  f.push_back(counter("mlsidecar_shadow_compared_total", {{"version", "v2"}, {"route", "a"}}, 80));
  f.back().metric.push_back(counter("x", {{"version", "v2"}, {"route", "b"}}, 20).metric[0]);
  f.push_back(
      counter("mlsidecar_shadow_status_matches_total", {{"version", "v2"}, {"route", "a"}}, 90));
  f.push_back(counter("mlsidecar_shadow_output_compared_total",
                      {{"version", "v2"}, {"output", "label"}}, 50));
  f.push_back(counter("mlsidecar_shadow_output_matches_total",
                      {{"version", "v2"}, {"output", "label"}}, 40));
  f.push_back(histogram("mlsidecar_shadow_latency_ratio", {{"version", "v2"}, {"route", "a"}},
                        {{1, 10}, {2, 20}, {kInf, 20}}));
  f.push_back(
      counter("mlsidecar_shadow_dropped_total", {{"version", "v2"}, {"reason", "full"}}, 3));
  f.push_back(counter("mlsidecar_shadow_something_new_total", {{"version", "v2"}}, 1));
  StatusRing ring(2);
  ring.push(take_snapshot(f, Clock::now(), 1));
  const nlohmann::json j = shadow_json(ring);
  REQUIRE(j["versions"].size() == 1);
  const nlohmann::json& v = j["versions"][0];
  CHECK(v["version"] == "v2");
  CHECK(v["compared"] == 100);
  CHECK(v["status_agreement"] == 0.9);
  CHECK(v["outputs"][0]["agreement"] == 0.8);
  CHECK(v["latency_ratio_p50"] == 1.0);
  CHECK(v["dropped"]["full"] == 3);
  // Without those families there is no section.
  StatusRing none(2);
  none.push(take_snapshot(scrape(1, 0, 0, {{0.01, 1}, {kInf, 1}}), Clock::now(), 1));
  CHECK(shadow_json(none).is_null());
}

TEST_CASE("ring_json lays the series out for the charts, unknowns as null") {
  const Clock::time_point t0{};
  StatusRing ring(4);
  ring.push(take_snapshot(scrape(0, 0, 0, {{0.01, 0}, {kInf, 0}}), t0, 10));
  ring.push(
      take_snapshot(scrape(0, 0, 0, {{0.01, 0}, {kInf, 0}}), t0 + std::chrono::seconds(5), 15));
  const nlohmann::json j = ring_json(ring, 5);
  CHECK(j["interval_seconds"] == 5.0);
  CHECK(j["capacity"] == 4);
  CHECK(j["points"]["t"] == nlohmann::json::array({15.0}));
  CHECK(j["points"]["p99_seconds"][0].is_null());
  CHECK(j["points"]["load_ratio"][0] == 0.5);
  CHECK(j["window"]["error_ratio"].is_null());
  CHECK(j["totals"]["in_flight"] == 3);
}
