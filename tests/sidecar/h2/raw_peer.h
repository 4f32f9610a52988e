// The other end of the tests: a plain nghttp2 session (client or server) that records what it
// receives and sends what a test tells it, wired to ServerConnection or ClientConnection through
// memory. It is nghttp2 used directly, as any other HTTP/2 implementation would talk to ours.
#pragma once

#include <nghttp2/nghttp2.h>

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "sidecar/h2/client_connection.h"
#include "sidecar/h2/server_connection.h"

namespace mlsidecar::h2::test {

using Fields = std::vector<std::pair<std::string, std::string>>;

std::string find_field(const Fields& fields, std::string_view name);

struct PeerStream {
  Fields head;      // pseudo-headers included
  Fields trailers;  // a second header block
  std::string body;
  std::size_t data_frames = 0;
  std::size_t header_frames = 0;
  bool ended = false;  // END_STREAM received
  bool closed = false;
  std::uint32_t close_code = 0;
  std::size_t consumed = 0;  // given back to the window by consume()
  bool reset_sent = false;
  // Sending.
  std::string out;
  bool out_end = false;
  Fields out_trailers;
  bool deferred = false;
};

struct PeerOptions {
  bool auto_window_update = true;
  std::vector<nghttp2_settings_entry> settings;
  std::size_t max_send_header_block = 0;  // 0: nghttp2's default
};

class RawPeer {
 public:
  enum class Role { client, server };
  explicit RawPeer(Role role, const PeerOptions& options = {});
  ~RawPeer();
  RawPeer(const RawPeer&) = delete;
  RawPeer& operator=(const RawPeer&) = delete;

  std::string output();
  int feed(std::string_view bytes);

  // Client: a request; the body is sent whole unless `end` is false (then send()/finish()).
  std::int32_t request(const Fields& fields, std::string_view body = {}, bool end = true);
  // Server: a response to a received request.
  void respond(std::int32_t id, const Fields& fields, std::string_view body, bool end,
               const Fields& trailers = {});
  void send(std::int32_t id, std::string_view data);
  void finish(std::int32_t id, const Fields& trailers = {});
  void reset(std::int32_t id, std::uint32_t code);
  void consume(std::int32_t id, std::size_t n);

  nghttp2_session* session = nullptr;
  std::map<std::int32_t, PeerStream> streams;
  std::vector<std::int32_t> requests;  // server: streams whose request head arrived, in order
  bool goaway = false;
  std::int32_t goaway_last_stream = 0;
  std::uint32_t goaway_code = 0;
  std::size_t pings_acked = 0;
  std::size_t bytes_out = 0;  // written by output()
  std::size_t bytes_in = 0;   // fed

 private:
  struct Glue;
};

// Moves bytes both ways until neither side has anything to say. Returns the last FeedResult of
// our side that said close (or keep_open).
FeedResult pump(ServerConnection& server, RawPeer& client, Clock::time_point now = Clock::now());
FeedResult pump(ClientConnection& client, RawPeer& server, Clock::time_point now = Clock::now());

// One raw HTTP/2 frame (RFC 9113 4.1), for the attack cases nghttp2 would never send.
std::string frame(std::uint8_t type, std::uint8_t flags, std::uint32_t stream,
                  std::string_view payload);
// A request header block in HPACK without Huffman or indexing: GET http://x/ plus `extra`.
std::string hpack_request(const Fields& extra = {});

// ServerEvents that record everything and, by default, consume what they receive at once.
struct RecordedStream {
  std::string method, path, authority, scheme, content_type, te, grpc_timeout, grpc_encoding;
  Fields headers, trailers;
  bool grpc = false;
  bool head = false;
  std::string body;
  bool ended = false;
  bool closed = false;
  std::uint32_t close_code = 0;
  std::size_t sent = 0;  // on_response_data_sent total
};

struct RecordingServer : ServerEvents {
  void on_request_head(StreamId id, const RequestHead& head) override;
  void on_request_data(StreamId id, std::string_view data) override;
  void on_request_trailers(StreamId id, std::span<const HeaderField> trailers) override;
  void on_request_end(StreamId id) override;
  void on_response_data_sent(StreamId id, std::size_t bytes) override;
  void on_stream_close(StreamId id, std::uint32_t error_code) override;
  void on_stream_refused(StreamId id, Refusal reason) override;

  ServerConnection* connection = nullptr;
  bool auto_consume = true;
  std::map<StreamId, RecordedStream> streams;
  std::vector<StreamId> order;
  std::vector<std::pair<StreamId, Refusal>> refused;
};

struct RecordingClient : ClientEvents {
  void on_response_head(StreamId id, const ResponseHead& head) override;
  void on_response_data(StreamId id, std::string_view data) override;
  void on_response_trailers(StreamId id, std::span<const HeaderField> trailers) override;
  void on_response_end(StreamId id) override;
  void on_request_data_sent(StreamId id, std::size_t bytes) override;
  void on_stream_close(StreamId id, std::uint32_t error_code, bool retryable) override;
  void on_goaway(StreamId last_stream_id, std::uint32_t error_code) override;
  void on_ping_ack() override { ++ping_acks; }

  struct Stream {
    int status = 0;
    std::string grpc_status;
    Fields headers, trailers;
    std::string body;
    bool ended = false;
    bool closed = false;
    std::uint32_t close_code = 0;
    bool retryable = false;
    std::size_t sent = 0;
  };
  ClientConnection* connection = nullptr;
  bool auto_consume = true;
  std::map<StreamId, Stream> streams;
  bool goaway = false;
  StreamId goaway_last = 0;
  std::size_t ping_acks = 0;
};

Fields to_fields(std::span<const HeaderField> fields);
std::vector<HeaderField> to_views(const Fields& fields);

}  // namespace mlsidecar::h2::test
