#include "raw_peer.h"

#include <algorithm>

namespace mlsidecar::h2::test {

namespace {

std::vector<nghttp2_nv> to_nv(const Fields& fields) {
  std::vector<nghttp2_nv> nv;
  for (const auto& [name, value] : fields) {
    nv.push_back({reinterpret_cast<std::uint8_t*>(const_cast<char*>(name.data())),
                  reinterpret_cast<std::uint8_t*>(const_cast<char*>(value.data())), name.size(),
                  value.size(), NGHTTP2_NV_FLAG_NONE});
  }
  return nv;
}

std::string hpack_literal(std::string_view name, std::string_view value) {
  // Literal header field without indexing, new name (RFC 7541 6.2.2); lengths below 127.
  std::string out;
  out.push_back('\0');
  out.push_back(static_cast<char>(name.size()));
  out.append(name);
  out.push_back(static_cast<char>(value.size()));
  out.append(value);
  return out;
}

}  // namespace

std::string find_field(const Fields& fields, std::string_view name) {
  for (const auto& [n, v] : fields) {
    if (n == name) return v;
  }
  return {};
}

struct RawPeer::Glue {
  static RawPeer& peer(void* user_data) { return *static_cast<RawPeer*>(user_data); }

  static int begin_headers(nghttp2_session*, const nghttp2_frame* frame, void* user_data) {
    RawPeer& p = peer(user_data);
    PeerStream& s = p.streams[frame->hd.stream_id];
    ++s.header_frames;
    return 0;
  }
  static int header(nghttp2_session*, const nghttp2_frame* frame, const std::uint8_t* name,
                    std::size_t namelen, const std::uint8_t* value, std::size_t valuelen,
                    std::uint8_t, void* user_data) {
    PeerStream& s = peer(user_data).streams[frame->hd.stream_id];
    Fields& to = s.header_frames > 1 ? s.trailers : s.head;
    to.emplace_back(std::string(reinterpret_cast<const char*>(name), namelen),
                    std::string(reinterpret_cast<const char*>(value), valuelen));
    return 0;
  }
  static int frame_recv(nghttp2_session*, const nghttp2_frame* frame, void* user_data) {
    RawPeer& p = peer(user_data);
    if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
      p.requests.push_back(frame->hd.stream_id);
    }
    if ((frame->hd.type == NGHTTP2_HEADERS || frame->hd.type == NGHTTP2_DATA) &&
        (frame->hd.flags & NGHTTP2_FLAG_END_STREAM)) {
      p.streams[frame->hd.stream_id].ended = true;
    }
    if (frame->hd.type == NGHTTP2_DATA) ++p.streams[frame->hd.stream_id].data_frames;
    if (frame->hd.type == NGHTTP2_GOAWAY) {
      p.goaway = true;
      p.goaway_last_stream = frame->goaway.last_stream_id;
      p.goaway_code = frame->goaway.error_code;
    }
    if (frame->hd.type == NGHTTP2_PING && (frame->hd.flags & NGHTTP2_FLAG_ACK)) ++p.pings_acked;
    return 0;
  }
  static int data_chunk(nghttp2_session*, std::uint8_t, std::int32_t id, const std::uint8_t* data,
                        std::size_t len, void* user_data) {
    peer(user_data).streams[id].body.append(reinterpret_cast<const char*>(data), len);
    return 0;
  }
  static int stream_close(nghttp2_session*, std::int32_t id, std::uint32_t code, void* user_data) {
    PeerStream& s = peer(user_data).streams[id];
    s.closed = true;
    s.close_code = code;
    return 0;
  }
  static ssize_t read(nghttp2_session* session, std::int32_t id, std::uint8_t* buf,
                      std::size_t length, std::uint32_t* flags, nghttp2_data_source*,
                      void* user_data) {
    PeerStream& s = peer(user_data).streams[id];
    const std::size_t n = std::min(length, s.out.size());
    std::copy_n(s.out.begin(), n, buf);
    s.out.erase(0, n);
    if (s.out.empty() && s.out_end) {
      *flags |= NGHTTP2_DATA_FLAG_EOF;
      if (!s.out_trailers.empty()) {
        *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
        const auto nv = to_nv(s.out_trailers);
        nghttp2_submit_trailer(session, id, nv.data(), nv.size());
      }
      return static_cast<ssize_t>(n);
    }
    if (n == 0) {
      s.deferred = true;
      return NGHTTP2_ERR_DEFERRED;
    }
    return static_cast<ssize_t>(n);
  }
};

RawPeer::RawPeer(Role role, const PeerOptions& options) {
  nghttp2_session_callbacks* cbs = nullptr;
  nghttp2_session_callbacks_new(&cbs);
  nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, &Glue::begin_headers);
  nghttp2_session_callbacks_set_on_header_callback(cbs, &Glue::header);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, &Glue::frame_recv);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, &Glue::data_chunk);
  nghttp2_session_callbacks_set_on_stream_close_callback(cbs, &Glue::stream_close);
  nghttp2_option* opt = nullptr;
  nghttp2_option_new(&opt);
  if (!options.auto_window_update) nghttp2_option_set_no_auto_window_update(opt, 1);
  if (options.max_send_header_block != 0) {
    nghttp2_option_set_max_send_header_block_length(opt, options.max_send_header_block);
  }
  if (role == Role::client) {
    nghttp2_session_client_new2(&session, cbs, this, opt);
  } else {
    nghttp2_session_server_new2(&session, cbs, this, opt);
  }
  nghttp2_option_del(opt);
  nghttp2_session_callbacks_del(cbs);
  nghttp2_submit_settings(session, NGHTTP2_FLAG_NONE, options.settings.data(),
                          options.settings.size());
}

RawPeer::~RawPeer() { nghttp2_session_del(session); }

std::string RawPeer::output() {
  std::string out;
  for (;;) {
    const std::uint8_t* data = nullptr;
    const auto n = nghttp2_session_mem_send(session, &data);
    if (n <= 0) break;
    out.append(reinterpret_cast<const char*>(data), static_cast<std::size_t>(n));
  }
  bytes_out += out.size();
  return out;
}

int RawPeer::feed(std::string_view bytes) {
  bytes_in += bytes.size();
  const auto rv = nghttp2_session_mem_recv(
      session, reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
  return rv < 0 ? static_cast<int>(rv) : 0;
}

std::int32_t RawPeer::request(const Fields& fields, std::string_view body, bool end) {
  const auto nv = to_nv(fields);
  if (body.empty() && end) {
    return nghttp2_submit_request(session, nullptr, nv.data(), nv.size(), nullptr, nullptr);
  }
  nghttp2_data_provider provider{};
  provider.read_callback = &Glue::read;
  const std::int32_t id =
      nghttp2_submit_request(session, nullptr, nv.data(), nv.size(), &provider, nullptr);
  PeerStream& s = streams[id];
  s.out.append(body);
  s.out_end = end;
  return id;
}

void RawPeer::respond(std::int32_t id, const Fields& fields, std::string_view body, bool end,
                      const Fields& trailers) {
  PeerStream& s = streams[id];
  s.out.append(body);
  s.out_end = end;
  s.out_trailers = trailers;
  const auto nv = to_nv(fields);
  if (body.empty() && end && trailers.empty()) {
    nghttp2_submit_response(session, id, nv.data(), nv.size(), nullptr);
    return;
  }
  nghttp2_data_provider provider{};
  provider.read_callback = &Glue::read;
  nghttp2_submit_response(session, id, nv.data(), nv.size(), &provider);
}

void RawPeer::send(std::int32_t id, std::string_view data) {
  PeerStream& s = streams[id];
  s.out.append(data);
  if (s.deferred) {
    s.deferred = false;
    nghttp2_session_resume_data(session, id);
  }
}

void RawPeer::finish(std::int32_t id, const Fields& trailers) {
  PeerStream& s = streams[id];
  s.out_end = true;
  s.out_trailers = trailers;
  if (s.deferred) {
    s.deferred = false;
    nghttp2_session_resume_data(session, id);
  }
}

void RawPeer::reset(std::int32_t id, std::uint32_t code) {
  streams[id].reset_sent = true;
  nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, id, code);
}

void RawPeer::consume(std::int32_t id, std::size_t n) {
  streams[id].consumed += n;
  nghttp2_session_consume(session, id, n);
}

FeedResult pump(ServerConnection& server, RawPeer& client, Clock::time_point now) {
  FeedResult last;
  for (int round = 0; round < 1000; ++round) {
    const std::string up = client.output();
    if (!up.empty()) {
      const FeedResult r = server.feed(up, now);
      if (r.verdict == Verdict::close) last = r;
    }
    const std::string down = server.take_output();
    if (!down.empty()) client.feed(down);
    if (up.empty() && down.empty()) break;
  }
  return last;
}

FeedResult pump(ClientConnection& client, RawPeer& server, Clock::time_point now) {
  FeedResult last;
  for (int round = 0; round < 1000; ++round) {
    const std::string up = client.take_output();
    if (!up.empty()) server.feed(up);
    const std::string down = server.output();
    if (!down.empty()) {
      const FeedResult r = client.feed(down, now);
      if (r.verdict == Verdict::close) last = r;
    }
    if (up.empty() && down.empty()) break;
  }
  return last;
}

std::string frame(std::uint8_t type, std::uint8_t flags, std::uint32_t stream,
                  std::string_view payload) {
  std::string f;
  const auto len = static_cast<std::uint32_t>(payload.size());
  f.push_back(static_cast<char>((len >> 16) & 0xFF));
  f.push_back(static_cast<char>((len >> 8) & 0xFF));
  f.push_back(static_cast<char>(len & 0xFF));
  f.push_back(static_cast<char>(type));
  f.push_back(static_cast<char>(flags));
  f.push_back(static_cast<char>((stream >> 24) & 0x7F));
  f.push_back(static_cast<char>((stream >> 16) & 0xFF));
  f.push_back(static_cast<char>((stream >> 8) & 0xFF));
  f.push_back(static_cast<char>(stream & 0xFF));
  f.append(payload);
  return f;
}

std::string hpack_request(const Fields& extra) {
  // :method GET, :scheme http, :path / from the static table (indices 2, 6, 4).
  std::string block = "\x82\x86\x84";
  block += hpack_literal(":authority", "x");
  for (const auto& [n, v] : extra) block += hpack_literal(n, v);
  return block;
}

void RecordingServer::on_request_head(StreamId id, const RequestHead& head) {
  RecordedStream& s = streams[id];
  order.push_back(id);
  s.head = true;
  s.method = head.method;
  s.path = head.path;
  s.authority = head.authority;
  s.scheme = head.scheme;
  s.content_type = head.content_type;
  s.te = head.te;
  s.grpc_timeout = head.grpc_timeout;
  s.grpc_encoding = head.grpc_encoding;
  s.grpc = head.grpc;
  s.headers = to_fields(head.headers);
  s.ended = head.end_stream;
}

void RecordingServer::on_request_data(StreamId id, std::string_view data) {
  streams[id].body.append(data);
  if (auto_consume && connection != nullptr) connection->consume(id, data.size());
}

void RecordingServer::on_request_trailers(StreamId id, std::span<const HeaderField> trailers) {
  streams[id].trailers = to_fields(trailers);
}

void RecordingServer::on_request_end(StreamId id) { streams[id].ended = true; }

void RecordingServer::on_response_data_sent(StreamId id, std::size_t bytes) {
  streams[id].sent += bytes;
}

void RecordingServer::on_stream_close(StreamId id, std::uint32_t error_code) {
  RecordedStream& s = streams[id];
  s.closed = true;
  s.close_code = error_code;
}

void RecordingServer::on_stream_refused(StreamId id, Refusal reason) {
  refused.emplace_back(id, reason);
}

void RecordingClient::on_response_head(StreamId id, const ResponseHead& head) {
  Stream& s = streams[id];
  s.status = head.status;
  s.grpc_status = head.grpc_status;
  s.headers = to_fields(head.headers);
}

void RecordingClient::on_response_data(StreamId id, std::string_view data) {
  streams[id].body.append(data);
  if (auto_consume && connection != nullptr) connection->consume(id, data.size());
}

void RecordingClient::on_response_trailers(StreamId id, std::span<const HeaderField> trailers) {
  streams[id].trailers = to_fields(trailers);
}

void RecordingClient::on_response_end(StreamId id) { streams[id].ended = true; }

void RecordingClient::on_request_data_sent(StreamId id, std::size_t bytes) {
  streams[id].sent += bytes;
}

void RecordingClient::on_stream_close(StreamId id, std::uint32_t error_code, bool retryable) {
  Stream& s = streams[id];
  s.closed = true;
  s.close_code = error_code;
  s.retryable = retryable;
}

void RecordingClient::on_goaway(StreamId last_stream_id, std::uint32_t) {
  goaway = true;
  goaway_last = last_stream_id;
}

Fields to_fields(std::span<const HeaderField> fields) {
  Fields out;
  for (const HeaderField& f : fields) out.emplace_back(f.name, f.value);
  return out;
}

std::vector<HeaderField> to_views(const Fields& fields) {
  std::vector<HeaderField> out;
  for (const auto& [n, v] : fields) out.push_back({n, v});
  return out;
}

}  // namespace mlsidecar::h2::test
