// The server side of one accepted HTTP/2 connection (cleartext, prior knowledge): an nghttp2
// server session fed the bytes the socket read, producing the bytes to write. No socket, no
// coroutine: the owner (the data port's session, later) reads, calls feed(), writes
// pending_output(), and relays each stream to the model through the request chain.
//
// Flow control follows the relay: a request DATA byte keeps the client's window shut until the
// owner consume()s it, which it does once the byte has left towards the model; a response byte
// the owner send_data()s waits in the stream's buffer until the client's window lets nghttp2 frame
// it, and on_response_data_sent() tells the owner when, so it can consume() as much on the
// model's side. A slow client thus slows the model's stream, and memory stays within the windows.
//
// Protection: Limits are advertised in SETTINGS and enforced by nghttp2 or by our counters
// (FloodGuard); a refused connection gets GOAWAY and feed() says close, with the reason.
//
// Thread safety: none; one per connection, on its I/O thread. Events are called from within
// feed() and pending_output(); an event may call the submit functions of this connection (not
// feed(), pending_output() or the destructor).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "sidecar/h2/connection.h"
#include "sidecar/h2/grpc.h"
#include "sidecar/h2/limits.h"
#include "sidecar/h2/types.h"

namespace mlsidecar::h2 {

// A request head as received. Views valid during on_request_head only. `headers` holds every
// regular field in arrival order, the named ones below included, values exactly as received
// (`-bin` metadata stays base64, as it travels).
struct RequestHead {
  std::string_view method;
  std::string_view scheme;
  std::string_view authority;
  std::string_view path;
  std::string_view content_type;
  std::string_view te;
  std::string_view grpc_timeout;
  std::string_view grpc_encoding;
  std::span<const HeaderField> headers;
  bool grpc = false;        // is_grpc(content_type)
  bool end_stream = false;  // no body follows
};

class ServerEvents {
 public:
  virtual void on_request_head(StreamId id, const RequestHead& head) = 0;
  // A piece of the body; the owner consume()s its size once relayed (see the class comment).
  virtual void on_request_data(StreamId id, std::string_view data) = 0;
  virtual void on_request_trailers(StreamId id, std::span<const HeaderField> trailers) {
    (void)id;
    (void)trailers;
  }
  // The client has sent everything (END_STREAM).
  virtual void on_request_end(StreamId id) = 0;
  // `bytes` of what the owner sent left in DATA frames: room to relay as much more.
  virtual void on_response_data_sent(StreamId id, std::size_t bytes) {
    (void)id;
    (void)bytes;
  }
  // The stream is gone; error_code is the HTTP/2 code (0 after a complete exchange; CANCEL, or
  // another, when the client reset it: cancel the upstream call). Only for streams whose head
  // was delivered.
  virtual void on_stream_close(StreamId id, std::uint32_t error_code) = 0;
  // A stream refused by a limit, for the metrics. header_list_too_large: the stream is already
  // reset and had no head. message_too_large, request_too_large, malformed_message: the head was
  // delivered; no more data comes, and the owner answers (RESOURCE_EXHAUSTED, 413) and cancels
  // the upstream call.
  virtual void on_stream_refused(StreamId id, Refusal reason) {
    (void)id;
    (void)reason;
  }

 protected:
  ~ServerEvents() = default;
};

class ServerConnection : public Connection {
 public:
  explicit ServerConnection(ServerEvents& events, const Limits& limits = {});

  // Response head; with end_stream the response has no body (and no trailers). Otherwise the body
  // follows with send_data() and ends with end_response(). False when the stream is gone.
  bool submit_response(StreamId id, int status, std::span<const HeaderField> headers,
                       bool end_stream = false);
  // Ends the body once what was sent is framed; with trailers (gRPC's grpc-status, grpc-message,
  // metadata), they follow the last DATA frame.
  bool end_response(StreamId id, std::span<const HeaderField> trailers = {});
  // A gRPC error the sidecar produces itself: HTTP 200, application/grpc, grpc-status and the
  // percent-encoded grpc-message in one HEADERS frame that ends the stream (trailers-only).
  bool submit_grpc_error(StreamId id, GrpcStatus status, std::string_view message);

  // Drain, step one: a GOAWAY that announces the end but still admits new streams (they may
  // already be in flight). Step two, about a round trip later (the owner's timer): goaway(),
  // the final GOAWAY with the last stream processed; streams up to it finish, later ones are
  // refused, and wants_close() turns true when the last one ends.
  void shutdown_notice();
  void goaway();

 private:
  class Impl;
  Impl& impl();
};

}  // namespace mlsidecar::h2
