#include <catch2/catch.hpp>

#include <chrono>

#include "sidecar/shadow_gate.h"

using namespace mlsidecar;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

TEST_CASE("a token bucket allows its rate and its burst, no more") {
  const auto t0 = Clock::time_point{} + 1h;
  TokenBucket bucket(10, 10, t0);  // 10/s, one second kept
  int taken = 0;
  for (int i = 0; i < 100; ++i) taken += bucket.take(t0) ? 1 : 0;
  CHECK(taken == 10);  // the burst
  CHECK_FALSE(bucket.take(t0 + 50ms));
  CHECK(bucket.take(t0 + 100ms));  // one token per 100 ms
  CHECK_FALSE(bucket.take(t0 + 150ms));
  // Idle for a minute: still only one second's worth.
  taken = 0;
  for (int i = 0; i < 100; ++i) taken += bucket.take(t0 + 60s) ? 1 : 0;
  CHECK(taken == 10);
  // Over ten seconds at 1000 attempts/s: 10/s pass.
  taken = 0;
  for (int ms = 1; ms <= 10000; ++ms) taken += bucket.take(t0 + 60s + ms * 1ms) ? 1 : 0;
  CHECK(taken == 100);
}

TEST_CASE("a token bucket with rate 0 has no cap; time going backwards adds nothing") {
  const auto t0 = Clock::time_point{} + 1h;
  TokenBucket open(0, 1, t0);
  for (int i = 0; i < 1000; ++i) CHECK(open.take(t0));
  TokenBucket bucket(1, 1, t0);
  CHECK(bucket.take(t0));
  CHECK_FALSE(bucket.take(t0 - 10s));
  CHECK_FALSE(bucket.take(t0));
}

TEST_CASE("the shadow gate copies drawn model calls within the size and rate caps") {
  const auto t0 = Clock::time_point{} + 1h;
  ShadowGate gate(4, 2, 1000, t0);  // 4/s over 2 threads: 2/s and a burst of 2 for this one

  // Routes not safe to repeat, or not drawn: skipped, whatever else holds.
  for (Route route : {Route::health, Route::other}) {
    CHECK(gate.decide(route, true, 10, t0) == ShadowDecision::skip);
  }
  CHECK(gate.decide(Route::predict, false, 10, t0) == ShadowDecision::skip);
  // A declared body over the cap: too large, no token spent.
  CHECK(gate.decide(Route::infer, true, 1001, t0) == ShadowDecision::too_large);
  CHECK(gate.decide(Route::infer, true, 1000, t0) == ShadowDecision::copy);
  CHECK(gate.decide(Route::generate, true, std::nullopt, t0) == ShadowDecision::copy);
  CHECK(gate.decide(Route::predict, true, 0, t0) == ShadowDecision::rate_limited);
  CHECK(gate.decide(Route::predict, true, 0, t0 + 500ms) == ShadowDecision::copy);
  // A copy not sent after all gives its token back, never more than the burst.
  gate.refund();
  CHECK(gate.decide(Route::predict, true, 0, t0 + 500ms) == ShadowDecision::copy);
  CHECK(gate.decide(Route::predict, true, 0, t0 + 500ms) == ShadowDecision::rate_limited);
  for (int i = 0; i < 10; ++i) gate.refund();
  CHECK(gate.decide(Route::predict, true, 0, t0 + 500ms) == ShadowDecision::copy);
  CHECK(gate.decide(Route::predict, true, 0, t0 + 500ms) == ShadowDecision::copy);
  CHECK(gate.decide(Route::predict, true, 0, t0 + 500ms) == ShadowDecision::rate_limited);
}

TEST_CASE("a process-wide cap below the thread count still lets each thread send") {
  const auto t0 = Clock::time_point{} + 1h;
  ShadowGate gate(1, 4, 1000, t0);  // 0.25/s for this thread, a burst of one
  CHECK(gate.decide(Route::predict, true, 1, t0) == ShadowDecision::copy);
  CHECK(gate.decide(Route::predict, true, 1, t0 + 3s) == ShadowDecision::rate_limited);
  CHECK(gate.decide(Route::predict, true, 1, t0 + 4s) == ShadowDecision::copy);
}
