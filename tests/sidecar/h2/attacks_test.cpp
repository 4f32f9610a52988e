// Each attack class of issue 17 against ServerConnection: refused with its reason, the stream
// reset or the connection closed with GOAWAY; other streams served meanwhile where the attack is
// one stream's.
#include <catch2/catch.hpp>

#include <string>

#include "raw_peer.h"
#include "sidecar/h2/preface.h"
#include "sidecar/h2/server_connection.h"

using namespace mlsidecar::h2;
using namespace mlsidecar::h2::test;

namespace {

constexpr std::uint8_t kData = 0x0, kHeaders = 0x1, kRstStream = 0x3, kSettings = 0x4, kPing = 0x6,
                       kContinuation = 0x9;
constexpr std::uint8_t kEndStream = 0x1, kEndHeaders = 0x4;

std::string opening() { return std::string(kClientPreface) + frame(kSettings, 0, 0, ""); }

std::string rst(std::uint32_t stream) {
  return frame(kRstStream, 0, stream, std::string("\0\0\0\x8", 4));
}

// The GOAWAY our side wrote, read by a real HTTP/2 client.
std::uint32_t goaway_code(ServerConnection& server) {
  RawPeer reader(RawPeer::Role::client);
  reader.output();  // its own preface, so that it accepts the server's frames
  reader.feed(server.take_output());
  return reader.goaway ? reader.goaway_code : 0xFFFFFFFF;
}

// The error code of the first RST_STREAM for `stream` in our output, read frame by frame.
std::uint32_t rst_code(std::string_view out, std::uint32_t stream) {
  auto byte = [&](std::size_t i) {
    return static_cast<std::uint32_t>(static_cast<unsigned char>(out[i]));
  };
  for (std::size_t at = 0; at + 9 <= out.size();) {
    const std::uint32_t len = byte(at) << 16 | byte(at + 1) << 8 | byte(at + 2);
    const std::uint32_t id =
        (byte(at + 5) & 0x7F) << 24 | byte(at + 6) << 16 | byte(at + 7) << 8 | byte(at + 8);
    if (out[at + 3] == kRstStream && id == stream && len == 4) {
      return byte(at + 9) << 24 | byte(at + 10) << 16 | byte(at + 11) << 8 | byte(at + 12);
    }
    at += 9 + len;
  }
  return 0xFFFFFFFF;
}

}  // namespace

TEST_CASE("rapid reset: streams opened and reset at once close the connection") {
  RecordingServer events;
  ServerConnection server(events);
  std::string attack = opening();
  for (std::uint32_t id = 1; id < 2 * 400; id += 2) {
    attack += frame(kHeaders, kEndHeaders, id, hpack_request());
    attack += rst(id);
  }
  const FeedResult r = server.feed(attack, Clock::now());
  CHECK(r.verdict == Verdict::close);
  CHECK(r.reason == Refusal::rapid_reset);
  CHECK(refusal_name(r.reason) == "rapid_reset");
  // The default allows a burst of 200 resets: the 201st is refused.
  CHECK(events.streams.size() <= 201);
  CHECK(goaway_code(server) == NGHTTP2_ENHANCE_YOUR_CALM);
}

TEST_CASE("cancellations at a sustainable rate are not an attack") {
  RecordingServer events;
  ServerConnection server(events);
  Clock::time_point now = Clock::now();
  CHECK(server.feed(opening(), now).verdict == Verdict::keep_open);
  std::uint32_t id = 1;
  for (int second = 0; second < 20; ++second, now += std::chrono::seconds(1)) {
    std::string batch;
    for (int i = 0; i < 40; ++i, id += 2) {
      batch += frame(kHeaders, kEndHeaders, id, hpack_request()) + rst(id);
    }
    const FeedResult r = server.feed(batch, now);
    INFO(second << " " << refusal_name(r.reason));
    REQUIRE(r.verdict == Verdict::keep_open);
    server.take_output();
  }
}

TEST_CASE("CONTINUATION flood: a header block that never ends is cut") {
  RecordingServer events;
  ServerConnection server(events);
  std::string attack = opening() + frame(kHeaders, kEndStream, 1, hpack_request());
  for (int i = 0; i < 100; ++i) {
    attack += frame(kContinuation, 0, 1, std::string("\0\x01x\x01y", 5));
  }
  const FeedResult r = server.feed(attack, Clock::now());
  CHECK(r.verdict == Verdict::close);
  CHECK(r.reason == Refusal::continuation_flood);
  CHECK(events.streams.empty());
  CHECK(goaway_code(server) == NGHTTP2_ENHANCE_YOUR_CALM);
}

TEST_CASE("a header block in a few CONTINUATION frames is fine") {
  RecordingServer events;
  ServerConnection server(events);
  const std::string block = hpack_request({{"x-a", "1"}, {"x-b", "2"}});
  std::string bytes = opening() + frame(kHeaders, kEndStream, 1, block.substr(0, 5));
  bytes += frame(kContinuation, 0, 1, block.substr(5, 10));
  bytes += frame(kContinuation, kEndHeaders, 1, block.substr(15));
  CHECK(server.feed(bytes, Clock::now()).verdict == Verdict::keep_open);
  REQUIRE(events.streams.count(1) == 1);
  CHECK(find_field(events.streams[1].headers, "x-b") == "2");
}

TEST_CASE("SETTINGS flood") {
  RecordingServer events;
  ServerConnection server(events);
  std::string attack = opening();
  for (int i = 0; i < 100; ++i) attack += frame(kSettings, 0, 0, "");
  const FeedResult r = server.feed(attack, Clock::now());
  CHECK(r.verdict == Verdict::close);
  CHECK(r.reason == Refusal::settings_flood);
  CHECK(goaway_code(server) == NGHTTP2_ENHANCE_YOUR_CALM);
}

TEST_CASE("PING flood") {
  RecordingServer events;
  ServerConnection server(events);
  std::string attack = opening();
  for (int i = 0; i < 100; ++i) attack += frame(kPing, 0, 0, std::string(8, 'p'));
  const FeedResult r = server.feed(attack, Clock::now());
  CHECK(r.verdict == Verdict::close);
  CHECK(r.reason == Refusal::ping_flood);
}

TEST_CASE("PINGs whose ACKs the peer never reads") {
  Limits limits;
  limits.ping = {.burst = 100000, .per_second = 0};
  limits.max_outbound_ack = 10;
  RecordingServer events;
  ServerConnection server(events, limits);
  std::string attack = opening();
  for (int i = 0; i < 50; ++i) attack += frame(kPing, 0, 0, std::string(8, 'p'));
  const FeedResult r = server.feed(attack, Clock::now());
  CHECK(r.verdict == Verdict::close);
  CHECK(r.reason == Refusal::ack_flood);
}

TEST_CASE("empty DATA frame flood") {
  RecordingServer events;
  ServerConnection server(events);
  std::string attack = opening() + frame(kHeaders, kEndHeaders, 1, hpack_request());
  for (int i = 0; i < 1000; ++i) attack += frame(kData, 0, 1, "");
  const FeedResult r = server.feed(attack, Clock::now());
  CHECK(r.verdict == Verdict::close);
  CHECK(r.reason == Refusal::empty_data_flood);
}

TEST_CASE("suspect events of all kinds add up to a glitch cap") {
  Limits limits;
  limits.empty_data = {.burst = 1000, .per_second = 1000};
  limits.glitches = {.burst = 5, .per_second = 0};
  RecordingServer events;
  ServerConnection server(events, limits);
  std::string attack = opening() + frame(kHeaders, kEndHeaders, 1, hpack_request());
  for (int i = 0; i < 10; ++i) attack += frame(kData, 0, 1, "");
  const FeedResult r = server.feed(attack, Clock::now());
  CHECK(r.verdict == Verdict::close);
  CHECK(r.reason == Refusal::too_many_glitches);
}

TEST_CASE("HPACK bomb: a small block that decodes over the header list limit") {
  PeerOptions big;
  big.max_send_header_block = 1 << 20;
  RawPeer client(RawPeer::Role::client, big);
  RecordingServer events;
  ServerConnection server(events);
  events.connection = &server;

  // 2000 bytes once, then 1-byte references to it: about 2 KB on the wire, 160 KB decoded.
  Fields bomb = {{":method", "GET"}, {":scheme", "http"}, {":authority", "x"}, {":path", "/"}};
  for (int i = 0; i < 80; ++i) bomb.emplace_back("x-bomb", std::string(2000, 'b'));
  const std::int32_t attack = client.request(bomb);
  const std::string wire = client.output();
  CHECK(wire.size() < 8 * 1024);
  server.feed(wire, Clock::now());
  pump(server, client);

  REQUIRE(events.refused.size() == 1);
  CHECK(events.refused[0].first == attack);
  CHECK(events.refused[0].second == Refusal::header_list_too_large);
  CHECK(events.streams.count(attack) == 0);  // the owner never saw it
  CHECK(client.streams[attack].closed);
  CHECK(client.streams[attack].close_code != 0);

  // The connection goes on serving others.
  const std::int32_t next = client.request(
      {{":method", "GET"}, {":scheme", "http"}, {":authority", "x"}, {":path", "/ok"}});
  const FeedResult r = pump(server, client);
  CHECK(r.verdict == Verdict::keep_open);
  CHECK(events.streams[next].path == "/ok");
}

TEST_CASE("streams over the concurrency limit are refused") {
  Limits limits;
  limits.max_concurrent_streams = 2;
  RecordingServer events;
  ServerConnection server(events, limits);
  std::string bytes = opening();
  // Raw frames, since nghttp2's client would hold the third stream back itself.
  for (std::uint32_t id : {1u, 3u, 5u}) bytes += frame(kHeaders, kEndHeaders, id, hpack_request());

  SECTION("before the client acknowledged our SETTINGS: REFUSED_STREAM, safe to retry") {
    CHECK(server.feed(bytes, Clock::now()).verdict == Verdict::keep_open);
    CHECK(events.streams.size() == 2);
    CHECK(server.open_streams() == 2);
    CHECK(rst_code(server.take_output(), 5) == NGHTTP2_REFUSED_STREAM);
  }
  SECTION("after: the client broke a limit it knew, and the connection closes") {
    server.feed(opening(), Clock::now());
    server.take_output();
    std::string after = frame(kSettings, 0x1, 0, "");
    for (std::uint32_t id : {1u, 3u, 5u})
      after += frame(kHeaders, kEndHeaders, id, hpack_request());
    const FeedResult r = server.feed(after, Clock::now());
    CHECK(r.verdict == Verdict::close);
    CHECK(r.reason == Refusal::protocol_error);
    CHECK(events.streams.size() == 2);
  }
}
