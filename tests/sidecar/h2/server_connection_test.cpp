#include <catch2/catch.hpp>

#include <string>

#include "raw_peer.h"
#include "sidecar/h2/server_connection.h"

using namespace mlsidecar::h2;
using namespace mlsidecar::h2::test;

namespace {

const Fields kGrpcRequest = {
    {":method", "POST"},
    {":scheme", "http"},
    {":authority", "model:8001"},
    {":path", "/inference.GRPCInferenceService/ModelInfer"},
    {"content-type", "application/grpc"},
    {"te", "trailers"},
    {"grpc-timeout", "100m"},
    {"grpc-encoding", "identity"},
    {"x-trace-bin", "AAEC/f7/"},  // base64 of 00 01 02 fd fe ff: relayed exactly as it came
    {"x-user", "ada"},
};

// One gRPC message: a 5-byte prefix and the payload.
std::string grpc_message(std::string_view payload) {
  std::string m(5, '\0');
  const auto n = static_cast<std::uint32_t>(payload.size());
  m[1] = static_cast<char>(n >> 24);
  m[2] = static_cast<char>(n >> 16);
  m[3] = static_cast<char>(n >> 8);
  m[4] = static_cast<char>(n);
  return m + std::string(payload);
}

struct Fixture {
  explicit Fixture(const Limits& limits = {}, const PeerOptions& peer = {})
      : client(RawPeer::Role::client, peer), server(events, limits) {
    events.connection = &server;
  }
  FeedResult run() { return pump(server, client); }

  RecordingServer events;
  RawPeer client;
  ServerConnection server;
};

}  // namespace

TEST_CASE("a unary gRPC call: head, metadata, body, response with trailers") {
  Fixture f;
  const std::string body = grpc_message("infer me");
  const std::int32_t id = f.client.request(kGrpcRequest, body);
  f.run();

  REQUIRE(f.events.streams.count(id) == 1);
  const RecordedStream& r = f.events.streams[id];
  CHECK(r.method == "POST");
  CHECK(r.scheme == "http");
  CHECK(r.authority == "model:8001");
  CHECK(r.path == "/inference.GRPCInferenceService/ModelInfer");
  CHECK(r.content_type == "application/grpc");
  CHECK(r.te == "trailers");
  CHECK(r.grpc_timeout == "100m");
  CHECK(r.grpc_encoding == "identity");
  CHECK(r.grpc);
  CHECK(find_field(r.headers, "x-trace-bin") == "AAEC/f7/");
  CHECK(find_field(r.headers, "x-user") == "ada");
  CHECK(r.headers.size() == 6);  // every regular field, no pseudo-header
  CHECK(r.body == body);
  CHECK(r.ended);

  const Fields head = {{"content-type", "application/grpc"}, {"x-served-bin", "/w=="}};
  const Fields trailers = {{"grpc-status", "0"}, {"grpc-message", "fine"}, {"x-cost-bin", "AQID"}};
  REQUIRE(f.server.submit_response(id, 200, to_views(head)));
  REQUIRE(f.server.send_data(id, grpc_message("result")));
  REQUIRE(f.server.end_response(id, to_views(trailers)));
  f.run();

  const PeerStream& c = f.client.streams[id];
  CHECK(find_field(c.head, ":status") == "200");
  CHECK(find_field(c.head, "x-served-bin") == "/w==");
  CHECK(c.body == grpc_message("result"));
  CHECK(c.trailers == trailers);
  CHECK(c.ended);
  CHECK(c.closed);
  CHECK(c.close_code == 0);
  CHECK(f.events.streams[id].closed);
  CHECK(f.events.streams[id].close_code == 0);
  CHECK(f.events.streams[id].sent == grpc_message("result").size());
  CHECK_FALSE(f.server.has_open_streams());
}

TEST_CASE("a bidirectional stream relays each piece as it comes, both ways") {
  Fixture f;
  const std::int32_t id = f.client.request(kGrpcRequest, {}, false);
  f.run();
  REQUIRE(f.events.streams[id].head);
  REQUIRE(f.server.submit_response(id, 200, to_views({{"content-type", "application/grpc"}})));
  for (int i = 0; i < 3; ++i) {
    const std::string up = grpc_message("up" + std::to_string(i));
    const std::string down = grpc_message("down" + std::to_string(i));
    f.client.send(id, up);
    f.run();
    CHECK(f.events.streams[id].body.ends_with(up));
    CHECK_FALSE(f.events.streams[id].ended);
    f.server.send_data(id, down);
    f.run();
    CHECK(f.client.streams[id].body.ends_with(down));
    CHECK_FALSE(f.client.streams[id].ended);
  }
  f.client.finish(id);
  f.run();
  CHECK(f.events.streams[id].ended);
  f.server.end_response(id, to_views({{"grpc-status", "0"}}));
  f.run();
  CHECK(f.client.streams[id].ended);
  CHECK(find_field(f.client.streams[id].trailers, "grpc-status") == "0");
  CHECK(f.events.streams[id].closed);
}

TEST_CASE("request trailers reach the owner") {
  Fixture f;
  const std::int32_t id = f.client.request(kGrpcRequest, {}, false);
  f.client.send(id, grpc_message("x"));
  f.client.finish(id, {{"x-checksum", "42"}});
  f.run();
  CHECK(find_field(f.events.streams[id].trailers, "x-checksum") == "42");
  CHECK(f.events.streams[id].ended);
}

TEST_CASE("a request body waits for the owner: no consume, no window") {
  Limits limits;
  limits.stream_window = 64 * 1024;
  limits.connection_window = 1024 * 1024;
  Fixture f(limits);
  f.events.auto_consume = false;
  const std::string body(1024 * 1024, 'b');
  const std::int32_t id = f.client.request(
      {{":method", "POST"}, {":scheme", "http"}, {":authority", "x"}, {":path", "/upload"}}, body);
  f.run();
  // The client stops at the stream window the server advertised.
  CHECK(f.events.streams[id].body.size() == limits.stream_window);
  f.run();
  CHECK(f.events.streams[id].body.size() == limits.stream_window);

  // Relaying some lets as much more in (nghttp2 sends WINDOW_UPDATE once half the window is
  // consumed); relaying everything as it comes lets the whole body through.
  std::size_t consumed = 0;
  for (int round = 0; round < 100 && consumed < body.size(); ++round) {
    const std::size_t have = f.events.streams[id].body.size();
    f.server.consume(id, have - consumed);
    consumed = have;
    f.run();
    CHECK(f.events.streams[id].body.size() - consumed <= limits.stream_window);
  }
  CHECK(f.events.streams[id].body == body);
  CHECK(f.events.streams[id].ended);
}

TEST_CASE("a response body waits in the stream's buffer while the client reads nothing") {
  PeerOptions slow;
  slow.auto_window_update = false;  // the client application consumes nothing yet
  Fixture f({}, slow);
  const std::int32_t id = f.client.request(
      {{":method", "GET"}, {":scheme", "http"}, {":authority", "x"}, {":path", "/stream"}});
  f.run();
  REQUIRE(f.server.submit_response(id, 200, {}));
  const std::string body(256 * 1024, 'r');
  f.server.send_data(id, body);
  f.run();
  // 65535: the client's initial stream window (RFC 9113's default; it sent no other).
  CHECK(f.client.streams[id].body.size() == 65535);
  CHECK(f.events.streams[id].sent == 65535);
  CHECK(f.server.buffered(id) == body.size() - 65535);

  for (int round = 0; round < 100 && f.client.streams[id].body.size() < body.size(); ++round) {
    const std::size_t had = f.client.streams[id].body.size();
    f.client.consume(id, had);
    f.run();
    if (f.client.streams[id].body.size() == had) break;
  }
  CHECK(f.client.streams[id].body == body);
  CHECK(f.server.buffered(id) == 0);
  CHECK(f.events.streams[id].sent == body.size());
}

TEST_CASE("a client's RST_STREAM is reported so that the owner cancels upstream") {
  Fixture f;
  const std::int32_t id = f.client.request(kGrpcRequest, {}, false);
  f.run();
  REQUIRE(f.events.streams[id].head);
  f.client.reset(id, NGHTTP2_CANCEL);
  f.run();
  CHECK(f.events.streams[id].closed);
  CHECK(f.events.streams[id].close_code == NGHTTP2_CANCEL);
  CHECK_FALSE(f.server.has_open_streams());
  // Sending on it now is refused, not an error.
  CHECK_FALSE(f.server.send_data(id, "late"));
}

TEST_CASE("a gRPC error of our own is one HEADERS frame that ends the stream") {
  Fixture f;
  const std::int32_t id = f.client.request(kGrpcRequest, grpc_message("x"));
  f.run();
  REQUIRE(f.server.submit_grpc_error(id, GrpcStatus::unavailable, "model down: 100%"));
  f.run();
  const PeerStream& c = f.client.streams[id];
  CHECK(c.header_frames == 1);
  CHECK(c.data_frames == 0);
  CHECK(c.ended);
  CHECK(find_field(c.head, ":status") == "200");
  CHECK(find_field(c.head, "content-type") == "application/grpc");
  CHECK(find_field(c.head, "grpc-status") == "14");
  CHECK(find_field(c.head, "grpc-message") == "model down: 100%25");
}

TEST_CASE("an answer before the request ended stops the client without error") {
  Fixture f;
  const std::int32_t id = f.client.request(kGrpcRequest, {}, false);
  f.client.send(id, grpc_message("first"));
  f.run();
  REQUIRE(f.server.submit_grpc_error(id, GrpcStatus::deadline_exceeded, "too slow"));
  f.run();
  const PeerStream& c = f.client.streams[id];
  CHECK(find_field(c.head, "grpc-status") == "4");
  CHECK(c.closed);
  CHECK(c.close_code == NGHTTP2_NO_ERROR);
  CHECK(f.events.streams[id].closed);
  CHECK_FALSE(f.server.has_open_streams());
}

TEST_CASE("drain: GOAWAY lets streams in flight finish and refuses new ones") {
  Fixture f;
  const std::int32_t a = f.client.request(kGrpcRequest, {}, false);
  f.run();
  // Step one: the notice. A stream the client sent before it read the notice is still served.
  f.server.shutdown_notice();
  const std::string notice = f.server.take_output();
  const std::int32_t b = f.client.request(kGrpcRequest, grpc_message("b"));
  f.server.feed(f.client.output(), Clock::now());
  f.client.feed(notice);
  f.run();
  CHECK(f.client.goaway);
  CHECK(f.client.goaway_last_stream == 0x7fffffff);
  CHECK(f.events.streams[b].head);

  // Step two: the final GOAWAY names b; what the client sent after it is refused unprocessed.
  f.server.goaway();
  const std::string final_goaway = f.server.take_output();
  f.client.feed(final_goaway);
  CHECK(f.client.goaway_last_stream == b);
  const std::string late = std::string(f.client.output());
  std::string raw_c = late;  // nghttp2's client opens nothing after GOAWAY: write a stream by hand
  raw_c += frame(0x1, 0x4 | 0x1, 101, hpack_request());
  f.server.feed(raw_c, Clock::now());
  CHECK(f.events.streams.count(101) == 0);

  // a and b finish; then the connection has nothing left and closes.
  for (std::int32_t id : {a, b}) {
    f.server.submit_response(id, 200, to_views({{"content-type", "application/grpc"}}));
    f.server.end_response(id, to_views({{"grpc-status", "0"}}));
  }
  f.client.finish(a);
  CHECK_FALSE(f.server.wants_close());
  const FeedResult r = f.run();
  CHECK(f.client.streams[a].ended);
  CHECK(f.client.streams[b].ended);
  CHECK(r.reason == Refusal::none);
  CHECK(f.server.wants_close());
}

TEST_CASE("a gRPC message over the limit refuses the stream, not the connection") {
  Limits limits;
  limits.max_message_bytes = 1024;
  Fixture f(limits);
  const std::int32_t big = f.client.request(kGrpcRequest, grpc_message(std::string(2048, 'x')));
  f.run();
  REQUIRE(f.events.refused.size() == 1);
  CHECK(f.events.refused[0].first == big);
  CHECK(f.events.refused[0].second == Refusal::message_too_large);
  CHECK(f.events.streams[big].body.empty());
  f.server.submit_grpc_error(big, GrpcStatus::resource_exhausted, "message too large");
  const std::int32_t small = f.client.request(kGrpcRequest, grpc_message("ok"));
  f.run();
  CHECK(find_field(f.client.streams[big].head, "grpc-status") == "8");
  CHECK(f.events.streams[small].body == grpc_message("ok"));
}

TEST_CASE("a non-gRPC body over max_request_bytes refuses the stream") {
  Limits limits;
  limits.max_request_bytes = 100;
  Fixture f(limits);
  const Fields head = {{":method", "POST"},
                       {":scheme", "http"},
                       {":authority", "x"},
                       {":path", "/v2/models/m/infer"},
                       {"content-type", "application/json"}};
  const std::int32_t id = f.client.request(head, std::string(200, '{'));
  f.run();
  REQUIRE(f.events.refused.size() == 1);
  CHECK(f.events.refused[0].second == Refusal::request_too_large);
  f.server.submit_response(id, 413, {}, true);
  f.run();
  CHECK(find_field(f.client.streams[id].head, ":status") == "413");
}

TEST_CASE("bytes that are not HTTP/2 close the connection as a protocol error") {
  RecordingServer events;
  ServerConnection server(events);
  const FeedResult r = server.feed("GET / HTTP/1.1\r\nHost: x\r\n\r\n", Clock::now());
  CHECK(r.verdict == Verdict::close);
  CHECK(r.reason == Refusal::protocol_error);
}

TEST_CASE("output can be written in pieces") {
  Fixture f;
  const std::int32_t id = f.client.request(kGrpcRequest, grpc_message("x"));
  f.run();
  f.server.submit_response(id, 200, {}, false);
  f.server.send_data(id, std::string(100 * 1024, 'o'));
  f.server.end_response(id);
  std::string written;
  for (std::string_view v = f.server.pending_output(); !v.empty(); v = f.server.pending_output()) {
    const std::size_t n = std::min<std::size_t>(v.size(), 1000);
    written.append(v.substr(0, n));
    f.server.output_written(n);
  }
  f.client.feed(written);
  f.run();
  CHECK(f.client.streams[id].ended);
  CHECK(f.client.streams[id].body.size() == 100 * 1024);
}

TEST_CASE("bytes of a closed stream the owner never consumed go back to the connection") {
  Limits limits;
  limits.stream_window = 64 * 1024;
  limits.connection_window = 128 * 1024;
  Fixture f(limits);
  f.events.auto_consume = false;
  const Fields post = {
      {":method", "POST"}, {":scheme", "http"}, {":authority", "x"}, {":path", "/upload"}};
  const std::string body(64 * 1024, 'b');
  const std::int32_t a = f.client.request(post, body, false);
  const std::int32_t b = f.client.request(post, body, false);
  f.run();
  CHECK(f.events.streams[a].body.size() == body.size());
  CHECK(f.events.streams[b].body.size() == body.size());
  // The connection window is full: a third stream gets nothing through.
  const std::int32_t c = f.client.request(post, body, false);
  f.run();
  CHECK(f.events.streams[c].head);
  CHECK(f.events.streams[c].body.empty());
  // The client gives up on a; its 64 KiB return to the connection, and c flows.
  f.client.reset(a, NGHTTP2_CANCEL);
  f.run();
  CHECK(f.events.streams[a].closed);
  CHECK(f.events.streams[c].body.size() == body.size());
}
