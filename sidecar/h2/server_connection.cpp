#include "sidecar/h2/server_connection.h"

#include <array>
#include <charconv>

#include "sidecar/h2/session_core.h"

namespace mlsidecar::h2 {

class ServerConnection::Impl final : public detail::SessionCore {
 public:
  Impl(ServerEvents& events, const Limits& limits) : SessionCore(limits, true), events_(events) {}

  bool submit_response(StreamId id, int status, std::span<const HeaderField> headers,
                       bool end_stream) {
    detail::Stream* s = find(id);
    if (s == nullptr) return false;
    std::array<char, 8> digits{};
    const auto [end, ec] = std::to_chars(digits.data(), digits.data() + digits.size(), status);
    if (ec != std::errc{}) return false;
    const HeaderField status_field{":status", std::string_view(digits.data(), end - digits.data())};
    build_nv({&status_field, 1}, headers);
    if (end_stream) {
      s->out_end = true;
      return nghttp2_submit_response(session_, id, nv_.data(), nv_.size(), nullptr) == 0;
    }
    const nghttp2_data_provider provider = provider_for(*s);
    return nghttp2_submit_response(session_, id, nv_.data(), nv_.size(), &provider) == 0;
  }

  void shutdown_notice() { nghttp2_submit_shutdown_notice(session_); }

  void goaway() {
    local_goaway_ = true;
    nghttp2_submit_goaway(session_, NGHTTP2_FLAG_NONE,
                          nghttp2_session_get_last_proc_stream_id(session_), NGHTTP2_NO_ERROR,
                          nullptr, 0);
  }

 private:
  void on_block(detail::Stream& s, bool end_stream) override {
    if (s.head_delivered) {
      events_.on_request_trailers(s.id, regular_fields(s.block));
      return;
    }
    RequestHead head;
    head.method = s.block.find(":method");
    head.scheme = s.block.find(":scheme");
    head.authority = s.block.find(":authority");
    head.path = s.block.find(":path");
    head.content_type = s.block.find("content-type");
    head.te = s.block.find("te");
    head.grpc_timeout = s.block.find("grpc-timeout");
    head.grpc_encoding = s.block.find("grpc-encoding");
    head.headers = regular_fields(s.block);
    head.grpc = is_grpc(head.content_type);
    head.end_stream = end_stream;
    s.grpc = head.grpc;
    s.head_delivered = true;
    events_.on_request_head(s.id, head);
  }

  bool on_data(detail::Stream& s, std::string_view data) override {
    s.body_bytes += data.size();
    if (s.grpc) {
      std::string_view rest = data;
      while (auto m = s.messages.next(rest)) {
        if (m->length > limits_.max_message_bytes) {
          refuse_stream(s, Refusal::message_too_large);
          return false;
        }
      }
      if (s.messages.malformed()) {
        refuse_stream(s, Refusal::malformed_message);
        return false;
      }
    } else if (limits_.max_request_bytes != 0 && s.body_bytes > limits_.max_request_bytes) {
      refuse_stream(s, Refusal::request_too_large);
      return false;
    }
    events_.on_request_data(s.id, data);
    return true;
  }

  void on_remote_end(detail::Stream& s) override {
    if (s.head_delivered) events_.on_request_end(s.id);
  }

  void on_close(detail::Stream& s, std::uint32_t error_code) override {
    if (s.head_delivered) events_.on_stream_close(s.id, error_code);
  }

  void on_data_framed(detail::Stream& s, std::size_t n) override {
    events_.on_response_data_sent(s.id, n);
  }

  void on_stream_refused(detail::Stream& s, Refusal reason) override {
    events_.on_stream_refused(s.id, reason);
  }

  ServerEvents& events_;
};

ServerConnection::ServerConnection(ServerEvents& events, const Limits& limits)
    : Connection(std::make_unique<Impl>(events, limits)) {}

ServerConnection::Impl& ServerConnection::impl() { return static_cast<Impl&>(*core_); }

bool ServerConnection::submit_response(StreamId id, int status,
                                       std::span<const HeaderField> headers, bool end_stream) {
  return impl().submit_response(id, status, headers, end_stream);
}
bool ServerConnection::end_response(StreamId id, std::span<const HeaderField> trailers) {
  return impl().end_stream(id, trailers);
}

bool ServerConnection::submit_grpc_error(StreamId id, GrpcStatus status, std::string_view message) {
  std::array<char, 4> code{};
  const auto [end, ec] =
      std::to_chars(code.data(), code.data() + code.size(), static_cast<int>(status));
  (void)ec;  // a status fits in 4 characters
  const std::string encoded = percent_encode_message(message);
  std::array<HeaderField, 3> fields = {{
      {"content-type", "application/grpc"},
      {"grpc-status", std::string_view(code.data(), end - code.data())},
      {"grpc-message", encoded},
  }};
  const std::size_t n = message.empty() ? 2 : 3;
  return impl().submit_response(id, 200, std::span<const HeaderField>(fields.data(), n), true);
}

void ServerConnection::shutdown_notice() { impl().shutdown_notice(); }
void ServerConnection::goaway() { impl().goaway(); }

}  // namespace mlsidecar::h2
