#include "sidecar/h2/client_connection.h"

#include <array>
#include <charconv>

#include "sidecar/h2/session_core.h"

namespace mlsidecar::h2 {

class ClientConnection::Impl final : public detail::SessionCore {
 public:
  Impl(ClientEvents& events, const Limits& limits) : SessionCore(limits, false), events_(events) {}

  StreamId submit_request(const RequestLine& line, std::span<const HeaderField> headers,
                          bool end_stream) {
    if (!can_open_stream()) return -1;
    const std::array<HeaderField, 4> pseudo = {{
        {":method", line.method},
        {":scheme", line.scheme},
        {":authority", line.authority},
        {":path", line.path},
    }};
    build_nv(pseudo, headers);
    detail::Stream& s = new_stream(0);
    StreamId id = 0;
    if (end_stream) {
      s.out_end = true;
      id = nghttp2_submit_request(session_, nullptr, nv_.data(), nv_.size(), nullptr, &s);
    } else {
      const nghttp2_data_provider provider = provider_for(s);
      id = nghttp2_submit_request(session_, nullptr, nv_.data(), nv_.size(), &provider, &s);
    }
    if (id < 0) {
      free_stream(s);
      return id;
    }
    s.id = id;
    return id;
  }

  bool can_open_stream() const {
    if (goaway_ || broken_) return false;
    if (nghttp2_session_get_next_stream_id(session_) > 0x7fffffffU) return false;
    return open_streams() <
           nghttp2_session_get_remote_settings(session_, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
  }

  bool submit_ping() {
    if (ping_outstanding_) return false;
    if (nghttp2_submit_ping(session_, NGHTTP2_FLAG_NONE, nullptr) != 0) return false;
    ping_outstanding_ = true;
    return true;
  }

  bool goaway_ = false;
  bool ping_outstanding_ = false;

 private:
  void on_block(detail::Stream& s, bool end_stream) override {
    if (s.head_delivered) {
      events_.on_response_trailers(s.id, regular_fields(s.block));
      return;
    }
    ResponseHead head;
    const std::string_view status = s.block.find(":status");
    std::from_chars(status.data(), status.data() + status.size(), head.status);
    if (head.status >= 100 && head.status < 200) return;  // interim: the final head follows
    head.content_type = s.block.find("content-type");
    head.grpc_status = s.block.find("grpc-status");
    head.headers = regular_fields(s.block);
    head.end_stream = end_stream;
    s.head_delivered = true;
    events_.on_response_head(s.id, head);
  }

  bool on_data(detail::Stream& s, std::string_view data) override {
    events_.on_response_data(s.id, data);
    return true;
  }

  void on_remote_end(detail::Stream& s) override {
    if (s.head_delivered) events_.on_response_end(s.id);
  }

  void on_close(detail::Stream& s, std::uint32_t error_code) override {
    const bool retryable = error_code == NGHTTP2_REFUSED_STREAM && !s.head_delivered;
    events_.on_stream_close(s.id, error_code, retryable);
  }

  void on_not_sent(detail::Stream& s) override {
    events_.on_stream_close(s.id, NGHTTP2_REFUSED_STREAM, true);
  }

  void on_data_framed(detail::Stream& s, std::size_t n) override {
    events_.on_request_data_sent(s.id, n);
  }

  void on_control(const nghttp2_frame& frame) override {
    if (frame.hd.type == NGHTTP2_GOAWAY) {
      goaway_ = true;
      events_.on_goaway(frame.goaway.last_stream_id, frame.goaway.error_code);
    } else if (frame.hd.type == NGHTTP2_PING && (frame.hd.flags & NGHTTP2_FLAG_ACK) != 0) {
      ping_outstanding_ = false;
      events_.on_ping_ack();
    }
  }

  ClientEvents& events_;
};

ClientConnection::ClientConnection(ClientEvents& events, const Limits& limits)
    : Connection(std::make_unique<Impl>(events, limits)) {}

ClientConnection::Impl& ClientConnection::impl() { return static_cast<Impl&>(*core_); }
const ClientConnection::Impl& ClientConnection::impl() const {
  return static_cast<const Impl&>(*core_);
}

StreamId ClientConnection::submit_request(const RequestLine& line,
                                          std::span<const HeaderField> headers, bool end_stream) {
  return impl().submit_request(line, headers, end_stream);
}
bool ClientConnection::end_request(StreamId id, std::span<const HeaderField> trailers) {
  return impl().end_stream(id, trailers);
}
bool ClientConnection::can_open_stream() const { return impl().can_open_stream(); }
bool ClientConnection::goaway_received() const { return impl().goaway_; }
bool ClientConnection::submit_ping() { return impl().submit_ping(); }
bool ClientConnection::ping_outstanding() const { return impl().ping_outstanding_; }

}  // namespace mlsidecar::h2
