#include <catch2/catch.hpp>

#include <cstdint>
#include <string>
#include <thread>

#include "sidecar/shadow_queue.h"

using namespace mlsidecar;

namespace {
ShadowCopy copy_of(std::string body, int status = 200) {
  ShadowCopy c;
  c.route = Route::predict;
  c.head = "POST /v1/models/m:predict HTTP/1.1\r\n";
  c.request_body = std::move(body);
  c.primary_status = status;
  c.primary_body = "{}";
  return c;
}
}  // namespace

TEST_CASE("the shadow queue hands copies over in order and moves their buffers") {
  ShadowQueue queue(4, 1 << 20);
  ShadowCopy a = copy_of("first"), b = copy_of("second", 503);
  REQUIRE(queue.try_push(a));
  REQUIRE(queue.try_push(b));
  // The producer keeps no buffer: the slot's empty strings took the copy's place.
  CHECK(a.request_body.empty());
  CHECK(a.head.capacity() <= std::string().capacity());
  CHECK(queue.bytes() > 0);

  ShadowCopy out;
  REQUIRE(queue.pop(out));
  CHECK(out.request_body == "first");
  CHECK(out.primary_status == 200);
  REQUIRE(queue.pop(out));
  CHECK(out.request_body == "second");
  CHECK(out.primary_status == 503);
  CHECK_FALSE(queue.pop(out));
  CHECK(queue.bytes() == 0);
}

TEST_CASE("the shadow queue is bounded in slots and in bytes, and never blocks") {
  SECTION("slots: a power of two") {
    ShadowQueue queue(3, 1 << 20);
    CHECK(queue.capacity() == 4);
    for (int i = 0; i < 4; ++i) {
      ShadowCopy c = copy_of("x");
      CHECK(queue.try_push(c));
    }
    ShadowCopy refused = copy_of("kept by the caller");
    CHECK_FALSE(queue.try_push(refused));
    CHECK(refused.request_body == "kept by the caller");  // untouched: the caller counts it
    ShadowCopy out;
    REQUIRE(queue.pop(out));
    CHECK(queue.try_push(refused));  // a freed slot takes it
  }
  SECTION("bytes: a copy that would pass the budget is refused, smaller ones still fit") {
    const std::size_t overhead = copy_of("").bytes();
    ShadowQueue queue(64, 2 * overhead + 1000);
    ShadowCopy big = copy_of(std::string(900, 'a'));
    REQUIRE(queue.try_push(big));
    ShadowCopy too_big = copy_of(std::string(200, 'b'));
    CHECK_FALSE(queue.try_push(too_big));
    ShadowCopy small = copy_of(std::string(100, 'c'));
    CHECK(queue.try_push(small));
    ShadowCopy out;
    REQUIRE(queue.pop(out));
    CHECK(queue.try_push(too_big));  // room again once the worker took one
  }
}

TEST_CASE("one producer and one consumer exchange every copy intact") {
  constexpr int kCopies = 20000;
  ShadowQueue queue(16, 1 << 20);
  std::uint64_t sent_sum = 0, got_sum = 0;
  int got = 0;
  std::thread consumer([&] {
    ShadowCopy out;
    while (got < kCopies) {
      if (!queue.pop(out)) {
        std::this_thread::yield();
        continue;
      }
      got_sum += std::stoull(out.request_body) + static_cast<std::uint64_t>(out.primary_status);
      ++got;
    }
  });
  for (int i = 0; i < kCopies; ++i) {
    ShadowCopy c = copy_of(std::to_string(i), i % 7);
    while (!queue.try_push(c)) std::this_thread::yield();
    sent_sum += static_cast<std::uint64_t>(i) + static_cast<std::uint64_t>(i % 7);
  }
  consumer.join();
  CHECK(got == kCopies);
  CHECK(got_sum == sent_sum);
  CHECK(queue.bytes() == 0);
}
