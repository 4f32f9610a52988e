// What both ends of an HTTP/2 connection do alike, whatever the role: bytes in, bytes out, and
// the per-stream relay (data out through a buffer, data in given back to the window once
// relayed). ServerConnection and ClientConnection add their role's events and submits.
//
// Thread safety: none; one per connection, on its I/O thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "sidecar/h2/types.h"

namespace mlsidecar::h2 {

namespace detail {
class SessionCore;
}

class Connection {
 public:
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Bytes read from the peer. On close, write pending_output() (it holds the GOAWAY that says
  // why) and close; `reason` is the metric label of a refusal. Frames nghttp2 answers with are
  // serialized here already.
  FeedResult feed(std::string_view bytes, Clock::time_point now);
  // Bytes to write, about 64 KiB at most at a time; output_written() says how many were written.
  std::string_view pending_output();
  void output_written(std::size_t n);
  // Everything there is to write, at once (tests, the fuzz target).
  std::string take_output();
  // Nothing more will be read or written: close once pending_output() is empty. Check it after
  // writing too (a stream that ends on our last frame ends the connection's work then).
  bool wants_close() const;

  // Appends to a stream's body; framed as the peer's windows allow. False when the stream is gone
  // or its end was already submitted.
  bool send_data(StreamId id, std::string_view data);
  // RST_STREAM with an HTTP/2 error code (CANCEL = 8, REFUSED_STREAM = 7, INTERNAL_ERROR = 2).
  bool reset_stream(StreamId id, std::uint32_t error_code);
  // Gives `bytes` of a stream's received body back to the peer's window: call it once they are
  // relayed. Bytes never consumed go back by themselves when the stream closes.
  void consume(StreamId id, std::size_t bytes);
  // Bytes sent on a stream and not yet framed: the owner's backpressure signal.
  std::size_t buffered(StreamId id) const;

  // For the owner's idle and header timers.
  bool has_open_streams() const;
  std::size_t open_streams() const;

 protected:
  explicit Connection(std::unique_ptr<detail::SessionCore> core);
  ~Connection();

  std::unique_ptr<detail::SessionCore> core_;
};

}  // namespace mlsidecar::h2
