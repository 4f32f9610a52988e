// Fuzz target: mlsidecar::h2::ServerConnection (sidecar/h2/server_connection.h), fed client bytes
// in pieces, with an owner that answers every request it sees: response head, the request's data
// echoed back, trailers at the request's end, a gRPC error for a refused stream, and a reset now
// and then. Time advances with every piece, so the flood counters refill as they would.
//
// Input: byte 0: bit 0 clear puts the valid client preface in front of the rest (so the fuzzer
// spends its time on frames, not on the 24 magic bytes), set feeds the rest raw; the other bits
// give the piece size (1 to 128). The rest: the bytes of the client.
//
// Invariants: events come in a stream's order (head first; nothing after close; one end); no more
// streams open than the SETTINGS limit; a refusal has a name; once the connection said close it
// stays closed.
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "sidecar/h2/preface.h"
#include "sidecar/h2/server_connection.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using namespace mlsidecar::h2;

struct StreamState {
  bool head = false;
  bool ended = false;
  bool closed = false;
  bool answered = false;
};

struct AnsweringOwner : ServerEvents {
  void on_request_head(StreamId id, const RequestHead& head) override {
    StreamState& s = streams[id];
    FUZZ_CHECK(!s.head && !s.closed);
    s.head = true;
    const HeaderField fields[] = {{"content-type", head.grpc ? "application/grpc" : "text/plain"},
                                  {"x-path-len", head.path.empty() ? "0" : "n"}};
    s.answered = connection->submit_response(id, 200, fields);
  }
  void on_request_data(StreamId id, std::string_view data) override {
    StreamState& s = streams[id];
    FUZZ_CHECK(s.head && !s.ended && !s.closed);
    connection->send_data(id, data.substr(0, 64));
    connection->consume(id, data.size());
    if (data.size() == 13) connection->reset_stream(id, 8);  // a cancel, now and then
  }
  void on_request_trailers(StreamId id, std::span<const HeaderField>) override {
    FUZZ_CHECK(streams[id].head);
  }
  void on_request_end(StreamId id) override {
    StreamState& s = streams[id];
    FUZZ_CHECK(s.head && !s.ended && !s.closed);
    s.ended = true;
    const HeaderField trailers[] = {{"grpc-status", "0"}, {"x-end-bin", "AA=="}};
    connection->end_response(id, trailers);
  }
  void on_stream_close(StreamId id, std::uint32_t) override {
    StreamState& s = streams[id];
    FUZZ_CHECK(s.head && !s.closed);
    s.closed = true;
  }
  void on_stream_refused(StreamId id, Refusal reason) override {
    FUZZ_CHECK(refusal_name(reason) != "unknown");
    connection->submit_grpc_error(id, GrpcStatus::resource_exhausted, "refused");
  }

  ServerConnection* connection = nullptr;
  std::map<StreamId, StreamState> streams;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const bool raw = (data[0] & 1) != 0;
  const std::size_t piece = 1 + ((data[0] >> 1) & 0x7F);
  std::string input = raw ? std::string() : std::string(kClientPreface);
  input.append(reinterpret_cast<const char*>(data + 1), size - 1);

  Limits limits;
  AnsweringOwner owner;
  ServerConnection server(owner, limits);
  owner.connection = &server;
  Clock::time_point now{};
  bool closed = false;
  for (std::size_t at = 0; at < input.size(); at += piece) {
    now += std::chrono::milliseconds(7);
    const FeedResult r = server.feed(std::string_view(input).substr(at, piece), now);
    FUZZ_CHECK(refusal_name(r.reason) != "unknown");
    if (closed) FUZZ_CHECK(r.verdict == Verdict::close);
    FUZZ_CHECK(server.open_streams() <= limits.max_concurrent_streams);
    server.take_output();
    if (r.verdict == Verdict::close) closed = true;
  }
  server.shutdown_notice();
  server.goaway();
  server.take_output();
  return 0;
}
