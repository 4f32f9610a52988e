#include <catch2/catch.hpp>

#include <string>

#include "raw_peer.h"
#include "sidecar/h2/client_connection.h"

using namespace mlsidecar::h2;
using namespace mlsidecar::h2::test;

namespace {

const RequestLine kInfer{.method = "POST",
                         .scheme = "http",
                         .authority = "127.0.0.1:8001",
                         .path = "/inference.GRPCInferenceService/ModelInfer"};
const Fields kGrpcHeaders = {
    {"content-type", "application/grpc"}, {"te", "trailers"}, {"x-trace-bin", "AAEC/f7/"}};

struct Fixture {
  explicit Fixture(const PeerOptions& peer = {}, const Limits& limits = {})
      : model(RawPeer::Role::server, peer), client(events, limits) {
    events.connection = &client;
    run();  // the SETTINGS exchange
  }
  FeedResult run() { return pump(client, model); }
  StreamId call(std::string_view body = {}, bool end = true) {
    const auto headers = to_views(kGrpcHeaders);
    const StreamId id = client.submit_request(kInfer, headers, body.empty() && end);
    if (!body.empty()) client.send_data(id, body);
    if (!body.empty() && end) client.end_request(id);
    return id;
  }

  RecordingClient events;
  RawPeer model;
  ClientConnection client;
};

}  // namespace

TEST_CASE("a call to the model: request, response, trailers, binary metadata both ways") {
  Fixture f;
  const StreamId id = f.call("request-bytes");
  f.run();
  REQUIRE(f.model.requests.size() == 1);
  const PeerStream& got = f.model.streams[id];
  CHECK(find_field(got.head, ":path") == "/inference.GRPCInferenceService/ModelInfer");
  CHECK(find_field(got.head, ":authority") == "127.0.0.1:8001");
  CHECK(find_field(got.head, "x-trace-bin") == "AAEC/f7/");
  CHECK(find_field(got.head, "te") == "trailers");
  CHECK(got.body == "request-bytes");
  CHECK(got.ended);

  f.model.respond(id,
                  {{":status", "200"}, {"content-type", "application/grpc"}, {"x-m-bin", "AQ=="}},
                  "response-bytes", true, {{"grpc-status", "0"}, {"x-t-bin", "Ag=="}});
  f.run();
  const RecordingClient::Stream& s = f.events.streams[id];
  CHECK(s.status == 200);
  CHECK(find_field(s.headers, "x-m-bin") == "AQ==");
  CHECK(s.body == "response-bytes");
  CHECK(find_field(s.trailers, "grpc-status") == "0");
  CHECK(find_field(s.trailers, "x-t-bin") == "Ag==");
  CHECK(s.ended);
  CHECK(s.closed);
  CHECK(s.close_code == 0);
  CHECK(s.sent == std::string("request-bytes").size());
  CHECK_FALSE(f.client.has_open_streams());
}

TEST_CASE("a trailers-only answer from the model") {
  Fixture f;
  const StreamId id = f.call("x");
  f.run();
  f.model.respond(id,
                  {{":status", "200"},
                   {"content-type", "application/grpc"},
                   {"grpc-status", "5"},
                   {"grpc-message", "no such model"}},
                  {}, true);
  f.run();
  CHECK(f.events.streams[id].grpc_status == "5");
  CHECK(f.events.streams[id].ended);
  CHECK(f.events.streams[id].trailers.empty());
}

TEST_CASE("streaming both ways, piece by piece") {
  Fixture f;
  const StreamId id = f.call({}, false);
  f.run();
  f.model.respond(id, {{":status", "200"}, {"content-type", "application/grpc"}}, {}, false);
  for (int i = 0; i < 3; ++i) {
    f.client.send_data(id, "up" + std::to_string(i));
    f.run();
    CHECK(f.model.streams[id].body.ends_with("up" + std::to_string(i)));
    f.model.send(id, "down" + std::to_string(i));
    f.run();
    CHECK(f.events.streams[id].body.ends_with("down" + std::to_string(i)));
  }
  f.client.end_request(id);
  f.model.finish(id, {{"grpc-status", "0"}});
  f.run();
  CHECK(f.model.streams[id].ended);
  CHECK(f.events.streams[id].ended);
  CHECK(f.events.streams[id].closed);
}

TEST_CASE("the model's stream waits while the owner has not relayed its bytes") {
  Limits limits;
  limits.stream_window = 64 * 1024;
  Fixture f({}, limits);
  f.events.auto_consume = false;
  const StreamId id = f.call("x");
  f.run();
  const std::string body(512 * 1024, 'm');
  f.model.respond(id, {{":status", "200"}}, body, true);
  f.run();
  CHECK(f.events.streams[id].body.size() == limits.stream_window);
  std::size_t consumed = 0;
  for (int round = 0; round < 100 && consumed < body.size(); ++round) {
    const std::size_t have = f.events.streams[id].body.size();
    f.client.consume(id, have - consumed);
    consumed = have;
    f.run();
    CHECK(f.events.streams[id].body.size() - consumed <= limits.stream_window);
  }
  CHECK(f.events.streams[id].body == body);
}

TEST_CASE("the model's SETTINGS_MAX_CONCURRENT_STREAMS is honoured") {
  PeerOptions two;
  two.settings = {{NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 2}};
  Fixture f(two);
  CHECK(f.client.can_open_stream());
  const StreamId a = f.call({}, false);
  CHECK(f.client.can_open_stream());
  const StreamId b = f.call({}, false);
  CHECK_FALSE(f.client.can_open_stream());
  CHECK(f.client.submit_request(kInfer, {}, true) < 0);
  f.run();
  f.model.respond(a, {{":status", "200"}}, "done", true);
  f.client.end_request(a);
  f.run();
  CHECK(f.events.streams[a].closed);
  CHECK(f.client.can_open_stream());
  CHECK(f.client.open_streams() == 1);
  (void)b;
}

TEST_CASE("REFUSED_STREAM from the model is reported retryable") {
  Fixture f;
  const StreamId id = f.call("x");
  f.run();
  f.model.reset(id, NGHTTP2_REFUSED_STREAM);
  f.run();
  CHECK(f.events.streams[id].closed);
  CHECK(f.events.streams[id].close_code == NGHTTP2_REFUSED_STREAM);
  CHECK(f.events.streams[id].retryable);
}

TEST_CASE("a reset after the model answered is not retryable") {
  Fixture f;
  const StreamId id = f.call({}, false);
  f.run();
  f.model.respond(id, {{":status", "200"}}, "partial", false);
  f.run();
  f.model.reset(id, NGHTTP2_INTERNAL_ERROR);
  f.run();
  CHECK(f.events.streams[id].closed);
  CHECK_FALSE(f.events.streams[id].retryable);
}

TEST_CASE("GOAWAY: streams above its last stream id are retryable, those below finish") {
  Fixture f;
  const StreamId a = f.call({}, false);
  const StreamId b = f.call({}, false);
  f.run();
  REQUIRE(f.model.requests.size() == 2);
  nghttp2_submit_goaway(f.model.session, NGHTTP2_FLAG_NONE, a, NGHTTP2_NO_ERROR, nullptr, 0);
  f.run();
  CHECK(f.events.goaway);
  CHECK(f.events.goaway_last == a);
  CHECK(f.client.goaway_received());
  CHECK_FALSE(f.client.can_open_stream());
  CHECK(f.events.streams[b].closed);
  CHECK(f.events.streams[b].retryable);
  CHECK_FALSE(f.events.streams[a].closed);
  f.client.end_request(a);
  f.model.respond(a, {{":status", "200"}}, "a", true);
  f.run();
  CHECK(f.events.streams[a].ended);
  CHECK(f.events.streams[a].close_code == 0);
}

TEST_CASE("a request still queued when GOAWAY arrives is retryable") {
  Fixture f;
  const StreamId id = f.call("x");  // submitted, not yet written
  nghttp2_submit_goaway(f.model.session, NGHTTP2_FLAG_NONE, 0, NGHTTP2_NO_ERROR, nullptr, 0);
  f.client.feed(f.model.output(), Clock::now());
  f.client.take_output();
  CHECK(f.events.streams[id].closed);
  CHECK(f.events.streams[id].retryable);
  CHECK_FALSE(f.client.has_open_streams());
}

TEST_CASE("keepalive PING: one outstanding at a time, cleared by the ACK") {
  Fixture f;
  CHECK_FALSE(f.client.ping_outstanding());
  CHECK(f.client.submit_ping());
  CHECK(f.client.ping_outstanding());
  CHECK_FALSE(f.client.submit_ping());
  f.run();
  CHECK_FALSE(f.client.ping_outstanding());
  CHECK(f.events.ping_acks == 1);
}

TEST_CASE("request trailers follow the last DATA frame") {
  Fixture f;
  const StreamId id = f.call({}, false);
  f.client.send_data(id, "body");
  const Fields trailers = {{"x-checksum", "42"}};
  const auto views = to_views(trailers);
  f.client.end_request(id, views);
  f.run();
  CHECK(f.model.streams[id].body == "body");
  CHECK(f.model.streams[id].trailers == trailers);
  CHECK(f.model.streams[id].ended);
}
