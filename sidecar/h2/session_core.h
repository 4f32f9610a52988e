// What ServerConnection and ClientConnection share: one nghttp2 session fed with mem_recv and
// drained with mem_send, its callbacks, the pool of per-stream state, the outbound buffer of each
// stream read by a data provider, the flood guard and the receive-window accounting. Internal to
// mlsidecar_h2: the only header that includes nghttp2.h, and only the library's .cpp files
// include it.
//
// Flow control: the session runs with NGHTTP2_OPT_NO_AUTO_WINDOW_UPDATE, so a received DATA byte
// holds the peer's window until the owner consume()s it, that is, until it has relayed it. A
// stream's outbound buffer holds what the owner sent and nghttp2 has not framed yet; the data
// provider returns NGHTTP2_ERR_DEFERRED when it is empty and is resumed by the next send.
//
// Thread safety: none; one per connection, on its I/O thread.
#pragma once

#include <nghttp2/nghttp2.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "sidecar/h2/flood_guard.h"
#include "sidecar/h2/grpc.h"
#include "sidecar/h2/header_block.h"
#include "sidecar/h2/limits.h"
#include "sidecar/h2/types.h"

namespace mlsidecar::h2::detail {

struct Stream {
  StreamId id = 0;
  bool in_use = false;
  // Receiving.
  HeaderBlock block;            // the header block being received
  std::size_t block_bytes = 0;  // its decoded size, RFC 9113 6.5.2
  bool head_delivered = false;  // the owner has seen the head; the next block is trailers
  bool refused = false;         // refused by us: its data is dropped (and consumed)
  bool grpc = false;
  GrpcMessageReader messages;
  std::uint64_t body_bytes = 0;
  std::uint64_t unconsumed = 0;  // delivered to the owner and not yet consume()d
  // Sending.
  std::string out;             // sent by the owner, not yet framed
  std::size_t out_framed = 0;  // bytes at the front of `out` already framed
  bool provider = false;       // a data provider is attached
  bool deferred = false;       // it returned NGHTTP2_ERR_DEFERRED: resume on the next send
  bool out_end = false;        // end the stream once `out` is framed
  bool out_trailers = false;   // and end it with `trailers` rather than END_STREAM on DATA
  HeaderBlock trailers;

  std::size_t buffered() const { return out.size() - out_framed; }
};

class SessionCore {
 public:
  SessionCore(const Limits& limits, bool server);
  virtual ~SessionCore();
  SessionCore(const SessionCore&) = delete;
  SessionCore& operator=(const SessionCore&) = delete;

  FeedResult feed(std::string_view bytes, Clock::time_point now);
  std::string_view pending_output();
  void output_written(std::size_t n);
  std::string take_output();
  bool wants_close() const;

  bool send_data(StreamId id, std::string_view data);
  bool end_stream(StreamId id, std::span<const HeaderField> trailers);
  bool reset_stream(StreamId id, std::uint32_t error_code);
  void consume(StreamId id, std::size_t n);
  std::size_t buffered(StreamId id) const;
  std::size_t open_streams() const { return open_streams_; }

 protected:
  // What the role does with a received head, trailers, data and stream ends.
  virtual void on_block(Stream& s, bool end_stream) = 0;
  // Returns whether the data went to the owner (else it is consumed here and dropped).
  virtual bool on_data(Stream& s, std::string_view data) = 0;
  virtual void on_remote_end(Stream& s) = 0;
  virtual void on_close(Stream& s, std::uint32_t error_code) = 0;
  virtual void on_data_framed(Stream& s, std::size_t n) = 0;
  // A connection-level frame after nghttp2 processed it (SETTINGS, PING, GOAWAY).
  virtual void on_control(const nghttp2_frame& frame) { (void)frame; }
  // A request HEADERS that never left (client: GOAWAY came first).
  virtual void on_not_sent(Stream& s) { (void)s; }
  // A stream refused by us; the connection refusal (too many glitches) is returned.
  virtual void on_stream_refused(Stream& s, Refusal reason) {
    (void)s;
    (void)reason;
  }

  Stream& new_stream(StreamId id);
  void free_stream(Stream& s);
  Stream* find(StreamId id) const;
  // Refuses one stream: its data is dropped from now on; counts a glitch. Returns false when the
  // glitches trip the connection's refusal (the caller fails the callback).
  bool refuse_stream(Stream& s, Refusal reason);
  bool glitch();

  // Header fields for a submit: `first` (pseudo-headers) then `rest`, as nghttp2_nv in nv_.
  void build_nv(std::span<const HeaderField> first, std::span<const HeaderField> rest);
  // The regular (non-pseudo) fields of a received block, as views in fields_.
  std::span<const HeaderField> regular_fields(const HeaderBlock& block);
  nghttp2_data_provider provider_for(Stream& s);

  nghttp2_session* session_ = nullptr;
  const Limits limits_;
  const bool server_;
  FloodGuard guard_;
  Refusal refusal_ = Refusal::none;
  Clock::time_point now_{};
  bool local_goaway_ = false;
  bool peer_goaway_ = false;
  bool broken_ = false;  // nghttp2 can no longer produce output
  std::vector<nghttp2_nv> nv_;
  std::vector<HeaderField> fields_;

 private:
  friend struct Callbacks;
  std::string output_;
  std::size_t output_written_ = 0;
  std::vector<std::unique_ptr<Stream>> streams_;  // every stream object, in use or free
  std::vector<Stream*> free_;
  std::size_t open_streams_ = 0;
};

}  // namespace mlsidecar::h2::detail
