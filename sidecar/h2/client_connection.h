// The client side of one HTTP/2 cleartext connection to the model's gRPC port: an nghttp2 client
// session fed the bytes read from the model, producing the bytes to write. Many calls share it
// as streams; the owner (a per-thread pool, later) opens a stream only while can_open_stream()
// says the model's SETTINGS_MAX_CONCURRENT_STREAMS and GOAWAY allow it, and retries a stream
// closed `retryable` (REFUSED_STREAM, or above a GOAWAY's last stream id: the model never
// processed it) on another connection, as Envoy does.
//
// Flow control mirrors ServerConnection: a response byte holds the model's window until the
// owner consume()s it (once the client's side has framed it, see on_response_data_sent there);
// a request byte the owner send_data()s waits in the stream's buffer until the model's window
// takes it, and on_request_data_sent() says when.
//
// Thread safety: none; one per connection, on its I/O thread. Events come from within feed() and
// pending_output(); an event may call the submit functions of this connection.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "sidecar/h2/connection.h"
#include "sidecar/h2/limits.h"
#include "sidecar/h2/types.h"

namespace mlsidecar::h2 {

struct RequestLine {
  std::string_view method = "POST";
  std::string_view scheme = "http";
  std::string_view authority;
  std::string_view path;
};

// A response head as received (interim 1xx heads are skipped). Views valid during the event.
struct ResponseHead {
  int status = 0;
  std::string_view content_type;
  std::string_view grpc_status;          // set in a trailers-only response
  std::span<const HeaderField> headers;  // every regular field, exactly as received
  bool end_stream = false;               // trailers-only, or no body
};

class ClientEvents {
 public:
  virtual void on_response_head(StreamId id, const ResponseHead& head) = 0;
  // A piece of the body; the owner consume()s its size once relayed.
  virtual void on_response_data(StreamId id, std::string_view data) = 0;
  virtual void on_response_trailers(StreamId id, std::span<const HeaderField> trailers) = 0;
  // The model has sent everything (END_STREAM, on the head, the last DATA or the trailers).
  virtual void on_response_end(StreamId id) { (void)id; }
  // `bytes` of the request body left in DATA frames: room to relay as much more.
  virtual void on_request_data_sent(StreamId id, std::size_t bytes) {
    (void)id;
    (void)bytes;
  }
  // The stream is gone. error_code 0 after a complete exchange; `retryable`: the model refused it
  // before processing anything (REFUSED_STREAM, GOAWAY before it started), so it may go again on
  // another connection.
  virtual void on_stream_close(StreamId id, std::uint32_t error_code, bool retryable) = 0;
  // The model's GOAWAY: no new streams here; those above last_stream_id close retryable.
  virtual void on_goaway(StreamId last_stream_id, std::uint32_t error_code) {
    (void)last_stream_id;
    (void)error_code;
  }
  virtual void on_ping_ack() {}

 protected:
  ~ClientEvents() = default;
};

class ClientConnection : public Connection {
 public:
  // The connection preface and our SETTINGS are in pending_output() at once.
  explicit ClientConnection(ClientEvents& events, const Limits& limits = {});

  // Opens a stream; with end_stream the request has no body, else send_data() and end_request()
  // follow. Returns the stream id, or a negative number when no stream can be opened.
  StreamId submit_request(const RequestLine& line, std::span<const HeaderField> headers,
                          bool end_stream = false);
  bool end_request(StreamId id, std::span<const HeaderField> trailers = {});

  // Whether another stream may open now: no GOAWAY received, fewer streams than the model's
  // SETTINGS_MAX_CONCURRENT_STREAMS, stream ids left.
  bool can_open_stream() const;
  bool goaway_received() const;

  // Keepalive: a PING, unless one is still unanswered (false then). The owner's timer closes a
  // connection whose ping stays outstanding too long.
  bool submit_ping();
  bool ping_outstanding() const;

 private:
  class Impl;
  Impl& impl();
  const Impl& impl() const;
};

}  // namespace mlsidecar::h2
