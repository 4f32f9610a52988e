#include <catch2/catch.hpp>

#include <chrono>
#include <string>

#include <prometheus/metric_family.h>

#include "metrics/drift/drift_engine.h"
#include "policies/autoscale_signals.h"
#include "sidecar/request_chain.h"
#include "sidecar/request_taps.h"

using namespace mlsidecar;
using namespace std::chrono_literals;

TEST_CASE("access-log sampling draws anew for every connection") {
  // Each connection has its own sampler. They used to share one constant seed, so the first
  // request of every connection drew the same number: below a rate of 0.86 it was never logged.
  constexpr int kConnections = 2000;
  int first_logged = 0;
  for (int i = 0; i < kConnections; ++i) {
    AccessLogSampler sampler;
    if (sampler.draw(0.5)) ++first_logged;
  }
  // Binomial(2000, 0.5): 1000 +- 22 (one sigma); the bounds are 9 sigma away.
  CHECK(first_logged > 800);
  CHECK(first_logged < 1200);
}

TEST_CASE("access-log sampling keeps its rate over a connection's requests") {
  AccessLogSampler sampler(42);
  int logged = 0;
  for (int i = 0; i < 10000; ++i) logged += sampler.draw(0.1) ? 1 : 0;
  CHECK(logged > 800);
  CHECK(logged < 1200);
  AccessLogSampler never(7), always(7);
  for (int i = 0; i < 1000; ++i) {
    CHECK_FALSE(never.draw(0));
    CHECK(always.draw(1.0));
  }
}

TEST_CASE("the in-flight guard ends what it started on every path") {
  Config config;
  config.threads = 1;
  RequestChain chain(config);
  auto& shard = chain.metrics().shard(0);
  const auto t0 = std::chrono::steady_clock::now();

  SECTION("finished: counted once, out of the gauge") {
    {
      InFlight guard(shard, chain.signals(), t0);
      CHECK(chain.metrics().in_flight() == 1);
      metrics::RequestSample sample;
      sample.status = 200;
      sample.duration_seconds = 0.01;
      guard.finish(sample, t0 + 10ms);
      guard.finish(sample, t0 + 20ms);  // a second finish changes nothing
      CHECK(chain.metrics().in_flight() == 0);
    }
    CHECK(chain.metrics().in_flight() == 0);
  }
  SECTION("abandoned (a session torn down): out of the gauge and of the concurrency signal") {
    { InFlight guard(shard, chain.signals(), t0); }
    CHECK(chain.metrics().in_flight() == 0);
    // Had the request stayed open, the concurrency over the next two minutes would average 1.
    chain.signals().update(t0 + 120s);
    CHECK(chain.signals().inputs().concurrency_stable < 0.01);
  }
}

TEST_CASE("a health check stays out of the autoscaling signals") {
  Config config;
  config.threads = 1;
  RequestChain chain(config);
  const auto t0 = std::chrono::steady_clock::now();
  InFlight probe(chain.metrics().shard(0), chain.signals(), t0, /*load=*/false);
  CHECK(chain.metrics().in_flight() == 1);  // still a request in flight on the sidecar
  chain.signals().update(t0 + 120s);
  CHECK(chain.signals().inputs().concurrency_stable < 0.01);
}

TEST_CASE("the drift tap picks nothing when drift is off") {
  const DriftTap off;
  for (Route r : {Route::predict, Route::infer, Route::generate, Route::other}) {
    const DriftTap::Pick pick = off.pick(0, r);
    CHECK_FALSE(pick.input);
    CHECK_FALSE(pick.output);
  }
}

TEST_CASE("the drift tap hands a V2 gRPC message to the engine as protobuf, or counts it") {
  drift::FeatureProfile x;
  x.name = "x";
  x.kind = drift::FeatureKind::numeric;
  x.count = 4;
  x.std = 1;
  x.edges = {0.0};
  x.ratios = {0.5, 0.5};
  x.sample = {-1.0, -0.5, 0.5, 1.0};
  drift::ReferenceProfile profile;
  profile.features = {x};
  drift::DriftSettings settings;
  settings.format = drift::PayloadFormat::kserve_v1;  // not for gRPC messages
  drift::DriftEngine engine(settings, 1, profile);
  const DriftTap tap(engine);
  // ModelInferRequest{inputs: [{name: "x", datatype: "FP32", shape: [2],
  // contents: {fp32_contents: [1, -1]}}]}, as python3-protobuf encodes it.
  const std::string message(
      "\x2a\x18\x0a\x01\x78\x12\x04\x46\x50\x33\x32\x1a\x01\x02\x2a\x0a\x32\x08\x00\x00\x80"
      "\x3f\x00\x00\x80\xbf",
      26);
  tap.hand_over_v2_grpc(0, drift::Direction::input, Route::infer, false, message);
  tap.hand_over_v2_grpc(0, drift::Direction::input, Route::infer, true, {});  // over the cap
  tap.count_compressed(0);
  tap.count_compressed(0);
  engine.compute_now();
  double window = -1, too_large = -1, compressed = -1;
  for (const auto& family : engine.Collect()) {
    for (const auto& m : family.metric) {
      if (family.name == "mlsidecar_drift_window_samples") window = m.gauge.value;
      if (family.name == "mlsidecar_drift_skipped_total" && m.label[0].value == "too_large") {
        too_large = m.counter.value;
      }
      if (family.name == "mlsidecar_drift_skipped_total" && m.label[0].value == "compressed") {
        compressed = m.counter.value;
      }
    }
  }
  CHECK(window == 2);
  CHECK(too_large == 1);
  CHECK(compressed == 2);
}
