#include <catch2/catch.hpp>

#include <chrono>

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
