#include <catch2/catch.hpp>

#include <chrono>

#include "sidecar/h2/flood_guard.h"

using namespace mlsidecar::h2;
using namespace std::chrono_literals;

TEST_CASE("a token bucket allows its burst, then its rate") {
  TokenBucket bucket(Rate{.burst = 3, .per_second = 1});
  const Clock::time_point t0{};
  CHECK(bucket.take(t0));
  CHECK(bucket.take(t0));
  CHECK(bucket.take(t0));
  CHECK_FALSE(bucket.take(t0));
  CHECK(bucket.take(t0 + 1s));
  CHECK_FALSE(bucket.take(t0 + 1s));
  CHECK(bucket.take(t0 + 3s));
  CHECK(bucket.take(t0 + 3s));
  CHECK_FALSE(bucket.take(t0 + 3s));
  // Never more than the burst, however long the pause.
  CHECK(bucket.take(t0 + 1h));
  CHECK(bucket.take(t0 + 1h));
  CHECK(bucket.take(t0 + 1h));
  CHECK_FALSE(bucket.take(t0 + 1h));
}

TEST_CASE("the flood guard counts what costs work and carries nothing") {
  Limits limits;
  limits.ping = {.burst = 2, .per_second = 0};
  limits.max_continuations = 1;
  FloodGuard guard(limits);
  const Clock::time_point t{};
  CHECK(guard.on_frame(0x6, 0x1, 8, true, t) == Refusal::none);  // ACKs are not counted
  CHECK(guard.on_frame(0x6, 0, 8, true, t) == Refusal::none);
  CHECK(guard.on_frame(0x6, 0, 8, true, t) == Refusal::none);
  CHECK(guard.on_frame(0x6, 0, 8, true, t) == Refusal::ping_flood);
  CHECK(guard.on_frame(0x1, 0, 10, true, t) == Refusal::none);
  CHECK(guard.on_frame(0x9, 0, 10, true, t) == Refusal::none);
  CHECK(guard.on_frame(0x9, 0, 10, true, t) == Refusal::continuation_flood);
  CHECK(guard.on_frame(0x0, 0x1, 0, true, t) == Refusal::none);  // an empty DATA that ends
  CHECK(guard.on_frame(0x3, 0, 4, false, t) == Refusal::none);   // resets count on servers only
}
