#include <catch2/catch.hpp>

#include <chrono>
#include <string>
#include <tuple>
#include <vector>

#include "sidecar/h2/grpc.h"
#include "sidecar/h2/preface.h"
#include "sidecar/h2/types.h"

using namespace mlsidecar;
using namespace mlsidecar::h2;
using namespace std::chrono_literals;

TEST_CASE("the connection preface tells HTTP/2 from HTTP/1.1") {
  CHECK(classify_preface("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n") == Protocol::h2);
  CHECK(classify_preface("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x12\x04") == Protocol::h2);
  CHECK(classify_preface("PRI * HTTP/2") == Protocol::need_more);
  CHECK(classify_preface("P") == Protocol::need_more);
  CHECK(classify_preface("") == Protocol::need_more);
  CHECK(classify_preface("POST /v2/models/m/infer HTTP/1.1\r\n") == Protocol::http1);
  CHECK(classify_preface("GET / HTTP/1.1\r\n") == Protocol::http1);
  CHECK(classify_preface("PRI * HTTP/1.1\r\n") == Protocol::http1);
}

TEST_CASE("grpc-timeout per the gRPC spec") {
  CHECK(parse_grpc_timeout("100m") == std::chrono::nanoseconds(100ms));
  CHECK(parse_grpc_timeout("1H") == std::chrono::nanoseconds(1h));
  CHECK(parse_grpc_timeout("2M") == std::chrono::nanoseconds(2min));
  CHECK(parse_grpc_timeout("30S") == std::chrono::nanoseconds(30s));
  CHECK(parse_grpc_timeout("250u") == std::chrono::nanoseconds(250us));
  CHECK(parse_grpc_timeout("7n") == 7ns);
  CHECK(parse_grpc_timeout("0S") == 0ns);
  CHECK(parse_grpc_timeout("99999999S") == std::chrono::nanoseconds(99999999s));
  // 8 digits of hours do not fit in 64-bit nanoseconds: the longest wait there is.
  CHECK(parse_grpc_timeout("99999999H") == std::chrono::nanoseconds::max());
  for (const char* bad : {"", "m", "100", "100x", "123456789S", "-1S", "1.5S", " 1S", "1s"}) {
    INFO(bad);
    CHECK_FALSE(parse_grpc_timeout(bad).has_value());
  }
}

TEST_CASE("content types that are gRPC") {
  CHECK(is_grpc("application/grpc"));
  CHECK(is_grpc("application/grpc+proto"));
  CHECK(is_grpc("application/grpc+json"));
  CHECK(is_grpc("application/grpc;charset=utf-8"));
  CHECK(is_grpc("Application/GRPC"));
  CHECK_FALSE(is_grpc("application/grpc-web"));
  CHECK_FALSE(is_grpc("application/json"));
  CHECK_FALSE(is_grpc("application/grp"));
  CHECK_FALSE(is_grpc(""));
}

TEST_CASE("the message prefix reader across 1-byte chunks") {
  // Three messages: 3 bytes uncompressed, 0 bytes, 300 bytes compressed.
  std::string body;
  body += std::string("\0\0\0\0\x03", 5) + "abc";
  body += std::string("\0\0\0\0\0", 5);
  body += std::string("\x01\0\0\x01\x2c", 5) + std::string(300, 'z');

  GrpcMessageReader reader;
  std::vector<GrpcMessageReader::Message> seen;
  for (char c : body) {
    std::string_view chunk(&c, 1);
    while (auto m = reader.next(chunk)) seen.push_back(*m);
    CHECK(chunk.empty());
  }
  REQUIRE(seen.size() == 3);
  CHECK_FALSE(seen[0].compressed);
  CHECK(seen[0].length == 3);
  CHECK(seen[1].length == 0);
  CHECK(seen[2].compressed);
  CHECK(seen[2].length == 300);
  CHECK(reader.at_boundary());
  CHECK(reader.messages() == 3);

  SECTION("the same in one chunk") {
    GrpcMessageReader whole;
    std::string_view all = body;
    int n = 0;
    while (whole.next(all)) ++n;
    CHECK(n == 3);
    CHECK(whole.at_boundary());
  }
  SECTION("a body cut inside a message is not at a boundary") {
    GrpcMessageReader cut;
    std::string_view part = std::string_view(body).substr(0, 7);
    while (cut.next(part)) {
    }
    CHECK_FALSE(cut.at_boundary());
  }
  SECTION("a flag byte other than 0 or 1 is malformed") {
    GrpcMessageReader bad;
    std::string_view junk("\x02\0\0\0\x01x", 6);
    CHECK_FALSE(bad.next(junk).has_value());
    CHECK(bad.malformed());
  }
}

TEST_CASE("routes, services and methods of gRPC paths") {
  const GrpcMethod infer = classify_grpc_path("/inference.GRPCInferenceService/ModelInfer");
  CHECK(infer.route == Route::infer);
  CHECK(infer.service == "inference.GRPCInferenceService");
  CHECK(infer.method == "ModelInfer");
  CHECK(infer.known);
  CHECK(classify_grpc_path("/inference.GRPCInferenceService/ModelStreamInfer").route ==
        Route::infer);
  for (const char* health :
       {"/inference.GRPCInferenceService/ServerLive", "/inference.GRPCInferenceService/ServerReady",
        "/inference.GRPCInferenceService/ModelReady", "/grpc.health.v1.Health/Check",
        "/grpc.health.v1.Health/Watch"}) {
    INFO(health);
    CHECK(classify_grpc_path(health).route == Route::health);
  }
  const GrpcMethod meta = classify_grpc_path("/inference.GRPCInferenceService/ModelMetadata");
  CHECK(meta.route == Route::other);
  CHECK(meta.known);
  const GrpcMethod custom = classify_grpc_path("/my.pkg.Scorer/Score");
  CHECK(custom.route == Route::other);
  CHECK(custom.service == "my.pkg.Scorer");
  CHECK(custom.method == "Score");
  CHECK_FALSE(custom.known);
  CHECK(classify_grpc_path("/").service.empty());
  CHECK(classify_grpc_path("nonsense").route == Route::other);
}

TEST_CASE("gRPC status names and parsing") {
  CHECK(grpc_status_name(GrpcStatus::ok) == "OK");
  CHECK(grpc_status_name(GrpcStatus::cancelled) == "CANCELLED");
  CHECK(grpc_status_name(GrpcStatus::deadline_exceeded) == "DEADLINE_EXCEEDED");
  CHECK(grpc_status_name(GrpcStatus::resource_exhausted) == "RESOURCE_EXHAUSTED");
  CHECK(grpc_status_name(GrpcStatus::unavailable) == "UNAVAILABLE");
  CHECK(grpc_status_name(GrpcStatus::unauthenticated) == "UNAUTHENTICATED");
  CHECK(parse_grpc_status("0") == GrpcStatus::ok);
  CHECK(parse_grpc_status("14") == GrpcStatus::unavailable);
  CHECK(parse_grpc_status("99") == GrpcStatus::unknown);
  CHECK_FALSE(parse_grpc_status("").has_value());
  CHECK_FALSE(parse_grpc_status("1a").has_value());
  CHECK_FALSE(parse_grpc_status("-1").has_value());
}

TEST_CASE("HTTP status to gRPC status (http-grpc-status-mapping)") {
  CHECK(grpc_status_from_http(400) == GrpcStatus::internal);
  CHECK(grpc_status_from_http(401) == GrpcStatus::unauthenticated);
  CHECK(grpc_status_from_http(403) == GrpcStatus::permission_denied);
  CHECK(grpc_status_from_http(404) == GrpcStatus::unimplemented);
  for (int s : {429, 502, 503, 504}) CHECK(grpc_status_from_http(s) == GrpcStatus::unavailable);
  for (int s : {200, 500, 413, 301}) CHECK(grpc_status_from_http(s) == GrpcStatus::unknown);
}

TEST_CASE("grpc-message is percent-encoded") {
  CHECK(percent_encode_message("plain text: ok") == "plain text: ok");
  CHECK(percent_encode_message("100%") == "100%25");
  CHECK(percent_encode_message("caf\xc3\xa9\n") == "caf%C3%A9%0A");
}

TEST_CASE("refusal names are the metric labels") {
  CHECK(refusal_name(Refusal::rapid_reset) == "rapid_reset");
  CHECK(refusal_name(Refusal::continuation_flood) == "continuation_flood");
  CHECK(refusal_name(Refusal::header_list_too_large) == "header_list_too_large");
}

TEST_CASE("the message copier hands over whole messages however the body is cut") {
  // Three messages: 3 bytes, 0 bytes (an empty message), 10 bytes compressed.
  std::string body;
  auto add = [&body](char flag, std::string_view payload) {
    body.push_back(flag);
    const auto n = static_cast<std::uint32_t>(payload.size());
    for (int shift : {24, 16, 8, 0}) body.push_back(static_cast<char>((n >> shift) & 0xff));
    body.append(payload);
  };
  add(0, "abc");
  add(0, "");
  add(1, "0123456789");
  for (std::size_t piece : {std::size_t{1}, std::size_t{2}, std::size_t{7}, body.size()}) {
    GrpcMessageCopier copier;
    std::vector<std::tuple<std::string, bool, bool>> got;
    int asked = 0;
    for (std::size_t at = 0; at < body.size(); at += piece) {
      copier.feed(
          std::string_view(body).substr(at, piece),
          [&] { return ++asked != 2 ? std::size_t{8} : std::size_t{0}; },
          [&](std::string_view m, bool compressed, bool overflow) {
            got.emplace_back(std::string(m), compressed, overflow);
          });
    }
    INFO("pieces of " << piece);
    CHECK(asked == 3);  // asked at each message start; the second was not wanted
    REQUIRE(got.size() == 2);
    CHECK(got[0] == std::make_tuple(std::string("abc"), false, false));
    CHECK(got[1] == std::make_tuple(std::string("01234567"), true, true));  // cut at the cap
    CHECK_FALSE(copier.malformed());
  }
  GrpcMessageCopier bad;
  bad.feed(
      std::string_view("\x07\0\0\0\0", 5), [] { return std::size_t{8}; },
      [](std::string_view, bool, bool) { FAIL("no message in a malformed body"); });
  CHECK(bad.malformed());
}
