#include "sidecar/h2/session_core.h"

#include <algorithm>
#include <cstring>
#include <limits>

namespace mlsidecar::h2::detail {

namespace {

// pending_output() stops pulling frames from nghttp2 past this much unwritten output, so a peer
// that does not read leaves its bytes in the stream buffers (bounded by the windows), not here.
constexpr std::size_t kOutputHighWater = 64 * 1024;
// A pooled stream keeps its buffers' capacity for the next one, up to this much.
constexpr std::size_t kKeepCapacity = 64 * 1024;

Refusal refusal_for(long long nghttp2_error) {
  switch (nghttp2_error) {
    case NGHTTP2_ERR_TOO_MANY_CONTINUATIONS:
      return Refusal::continuation_flood;
    case NGHTTP2_ERR_FLOODED:
      return Refusal::ack_flood;
    case NGHTTP2_ERR_TOO_MANY_SETTINGS:
      return Refusal::settings_flood;
    default:
      return Refusal::protocol_error;
  }
}

std::uint32_t goaway_code_for(Refusal reason) {
  return reason == Refusal::protocol_error ? NGHTTP2_PROTOCOL_ERROR : NGHTTP2_ENHANCE_YOUR_CALM;
}

std::string_view view(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

}  // namespace

// nghttp2's C callbacks, friends of SessionCore; user_data is the SessionCore.
struct Callbacks {
  static SessionCore& core(void* user_data) { return *static_cast<SessionCore*>(user_data); }
  static Stream* stream(nghttp2_session* session, StreamId id) {
    return static_cast<Stream*>(nghttp2_session_get_stream_user_data(session, id));
  }

  static int fail(SessionCore& c, Refusal reason) {
    if (c.refusal_ == Refusal::none) c.refusal_ = reason;
    return NGHTTP2_ERR_CALLBACK_FAILURE;
  }

  static int begin_frame(nghttp2_session*, const nghttp2_frame_hd* hd, void* user_data) {
    SessionCore& c = core(user_data);
    const Refusal r = c.guard_.on_frame(hd->type, hd->flags, static_cast<std::uint32_t>(hd->length),
                                        c.server_, c.now_);
    return r == Refusal::none ? 0 : fail(c, r);
  }

  static int begin_headers(nghttp2_session* session, const nghttp2_frame* frame, void* user_data) {
    SessionCore& c = core(user_data);
    Stream* s = nullptr;
    if (c.server_ && frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
      s = &c.new_stream(frame->hd.stream_id);
      if (nghttp2_session_set_stream_user_data(session, frame->hd.stream_id, s) != 0) {
        c.free_stream(*s);  // a stream nghttp2 did not open has no close to free it
        return 0;
      }
    } else {
      s = stream(session, frame->hd.stream_id);
    }
    if (s != nullptr) {
      s->block.clear();
      s->block_bytes = 0;
    }
    return 0;
  }

  static int header(nghttp2_session* session, const nghttp2_frame* frame, const std::uint8_t* name,
                    std::size_t namelen, const std::uint8_t* value, std::size_t valuelen,
                    std::uint8_t, void* user_data) {
    SessionCore& c = core(user_data);
    Stream* s = stream(session, frame->hd.stream_id);
    if (s == nullptr || s->refused) return 0;
    s->block_bytes += namelen + valuelen + 32;
    if (s->block_bytes > c.limits_.max_header_list_bytes) {
      s->block.clear();
      if (!c.refuse_stream(*s, Refusal::header_list_too_large)) {
        return NGHTTP2_ERR_CALLBACK_FAILURE;
      }
      // nghttp2 resets the stream and decodes the rest of the block without handing it to us.
      return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    }
    s->block.add(view(name, namelen), view(value, valuelen));
    return 0;
  }

  static int frame_recv(nghttp2_session* session, const nghttp2_frame* frame, void* user_data) {
    SessionCore& c = core(user_data);
    const bool end_stream = (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
    switch (frame->hd.type) {
      case NGHTTP2_HEADERS: {
        Stream* s = stream(session, frame->hd.stream_id);
        if (s == nullptr || s->refused) return 0;
        c.on_block(*s, end_stream);
        s->block.clear();
        if (end_stream && !s->refused) c.on_remote_end(*s);
        return 0;
      }
      case NGHTTP2_DATA: {
        Stream* s = stream(session, frame->hd.stream_id);
        if (s != nullptr && end_stream && !s->refused && s->head_delivered) c.on_remote_end(*s);
        return 0;
      }
      case NGHTTP2_GOAWAY:
        c.peer_goaway_ = true;
        break;
      default:
        break;
    }
    c.on_control(*frame);
    return 0;
  }

  static int data_chunk(nghttp2_session* session, std::uint8_t, StreamId id,
                        const std::uint8_t* data, std::size_t len, void* user_data) {
    SessionCore& c = core(user_data);
    Stream* s = stream(session, id);
    if (s != nullptr && !s->refused && s->head_delivered) {
      s->unconsumed += len;
      if (c.on_data(*s, view(data, len))) return 0;
      s->unconsumed -= len;
      if (c.refusal_ != Refusal::none) return NGHTTP2_ERR_CALLBACK_FAILURE;
    }
    // Nobody relays these bytes: give the window back at once.
    nghttp2_session_consume(session, id, len);
    return 0;
  }

  static int stream_close(nghttp2_session* session, StreamId id, std::uint32_t error_code,
                          void* user_data) {
    SessionCore& c = core(user_data);
    Stream* s = stream(session, id);
    if (s == nullptr) return 0;
    // Bytes the owner will now never consume() still hold the connection's window.
    if (s->unconsumed > 0) nghttp2_session_consume_connection(session, s->unconsumed);
    s->unconsumed = 0;
    c.on_close(*s, error_code);
    nghttp2_session_set_stream_user_data(session, id, nullptr);
    c.free_stream(*s);
    return 0;
  }

  static int invalid_frame(nghttp2_session*, const nghttp2_frame*, int, void* user_data) {
    SessionCore& c = core(user_data);
    return c.glitch() ? 0 : NGHTTP2_ERR_CALLBACK_FAILURE;
  }

  static int frame_send(nghttp2_session* session, const nghttp2_frame* frame, void* user_data) {
    SessionCore& c = core(user_data);
    // A complete response while the client is still sending (a gRPC error mid-stream): tell it
    // to stop, without error, as RFC 9113 8.1 allows and gRPC servers do; otherwise its body
    // keeps coming for nobody.
    if (c.server_ && (frame->hd.type == NGHTTP2_HEADERS || frame->hd.type == NGHTTP2_DATA) &&
        (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0 &&
        nghttp2_session_get_stream_remote_close(session, frame->hd.stream_id) == 0) {
      nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, frame->hd.stream_id, NGHTTP2_NO_ERROR);
    }
    // A GOAWAY with an error that we did not ask for is nghttp2's answer to a protocol violation
    // (or its own reset limiter, set above ours as a backstop).
    if (frame->hd.type == NGHTTP2_GOAWAY && frame->goaway.error_code != NGHTTP2_NO_ERROR &&
        c.refusal_ == Refusal::none) {
      c.refusal_ = frame->goaway.error_code == NGHTTP2_ENHANCE_YOUR_CALM ? Refusal::rapid_reset
                                                                         : Refusal::protocol_error;
    }
    return 0;
  }

  static int frame_not_send(nghttp2_session*, const nghttp2_frame* frame, int, void* user_data) {
    SessionCore& c = core(user_data);
    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
    if (Stream* s = c.find(frame->hd.stream_id)) {
      c.on_not_sent(*s);
      c.free_stream(*s);
    }
    return 0;
  }

  static ssize_t read_out(nghttp2_session* session, StreamId id, std::uint8_t* buf,
                          std::size_t length, std::uint32_t* data_flags,
                          nghttp2_data_source* source, void* user_data) {
    SessionCore& c = core(user_data);
    Stream& s = *static_cast<Stream*>(source->ptr);
    const std::size_t n = std::min(length, s.buffered());
    if (n > 0) {
      std::memcpy(buf, s.out.data() + s.out_framed, n);
      s.out_framed += n;
      if (s.out_framed == s.out.size()) {
        s.out.clear();
        s.out_framed = 0;
      }
    }
    if (s.buffered() == 0 && s.out_end) {
      *data_flags |= NGHTTP2_DATA_FLAG_EOF;
      s.provider = false;
      if (s.out_trailers) {
        // Submitted here, after the last DATA, so that the trailers cannot overtake it.
        *data_flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
        c.build_nv({}, c.regular_fields(s.trailers));
        if (nghttp2_submit_trailer(session, id, c.nv_.data(), c.nv_.size()) != 0) {
          return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
        }
      }
    } else if (n == 0) {
      s.deferred = true;
      return NGHTTP2_ERR_DEFERRED;
    }
    if (n > 0) c.on_data_framed(s, n);
    return static_cast<ssize_t>(n);
  }
};

SessionCore::SessionCore(const Limits& limits, bool server)
    : limits_(limits), server_(server), guard_(limits) {
  nghttp2_session_callbacks* cbs = nullptr;
  nghttp2_session_callbacks_new(&cbs);
  nghttp2_session_callbacks_set_on_begin_frame_callback(cbs, &Callbacks::begin_frame);
  nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, &Callbacks::begin_headers);
  nghttp2_session_callbacks_set_on_header_callback(cbs, &Callbacks::header);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, &Callbacks::frame_recv);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, &Callbacks::data_chunk);
  nghttp2_session_callbacks_set_on_stream_close_callback(cbs, &Callbacks::stream_close);
  nghttp2_session_callbacks_set_on_invalid_frame_recv_callback(cbs, &Callbacks::invalid_frame);
  nghttp2_session_callbacks_set_on_frame_send_callback(cbs, &Callbacks::frame_send);
  nghttp2_session_callbacks_set_on_frame_not_send_callback(cbs, &Callbacks::frame_not_send);

  nghttp2_option* opt = nullptr;
  nghttp2_option_new(&opt);
  // Windows follow what the owner has relayed, not what nghttp2 has parsed.
  nghttp2_option_set_no_auto_window_update(opt, 1);
  nghttp2_option_set_max_outbound_ack(opt, limits.max_outbound_ack);
  // Ours count first (begin_frame); nghttp2's own caps stay well above them as a backstop (its
  // reset limiter runs on the wall clock, ours on the owner's `now`).
  nghttp2_option_set_max_continuations(opt, limits.max_continuations + 1);
  nghttp2_option_set_stream_reset_rate_limit(opt, 10ULL * limits.resets.burst + 1000,
                                             10ULL * limits.resets.per_second + 33);

  if (server) {
    nghttp2_session_server_new2(&session_, cbs, this, opt);
  } else {
    nghttp2_session_client_new2(&session_, cbs, this, opt);
  }
  nghttp2_option_del(opt);
  nghttp2_session_callbacks_del(cbs);

  std::vector<nghttp2_settings_entry> settings = {
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, limits.max_concurrent_streams},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, limits.stream_window},
      {NGHTTP2_SETTINGS_MAX_FRAME_SIZE, limits.max_frame_size},
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, limits.max_header_list_bytes},
  };
  if (!server) settings.push_back({NGHTTP2_SETTINGS_ENABLE_PUSH, 0});
  nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, settings.data(), settings.size());
  nghttp2_session_set_local_window_size(session_, NGHTTP2_FLAG_NONE, 0,
                                        static_cast<std::int32_t>(limits.connection_window));
}

SessionCore::~SessionCore() { nghttp2_session_del(session_); }

FeedResult SessionCore::feed(std::string_view bytes, Clock::time_point now) {
  now_ = now;
  if (broken_) return {Verdict::close, refusal_};
  const auto rv = nghttp2_session_mem_recv(
      session_, reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
  if (rv < 0) {
    if (refusal_ == Refusal::none) refusal_ = refusal_for(rv);
    // Says why in a GOAWAY before the owner closes; nghttp2 reads nothing more.
    nghttp2_session_terminate_session(session_, goaway_code_for(refusal_));
    return {Verdict::close, refusal_};
  }
  // Frames nghttp2 queued in answer (a GOAWAY for a protocol error among them) are serialized
  // now, so that the verdict below knows what it decided.
  pending_output();
  if (refusal_ != Refusal::none) return {Verdict::close, refusal_};
  if (nghttp2_session_want_read(session_) == 0) {
    // Either side's GOAWAY with nothing left in flight, or nghttp2 ended the session over a
    // protocol error (its GOAWAY is queued).
    const bool graceful = local_goaway_ || peer_goaway_;
    return {Verdict::close, graceful ? Refusal::none : Refusal::protocol_error};
  }
  return {};
}

std::string_view SessionCore::pending_output() {
  if (output_written_ == output_.size()) {
    output_.clear();
    output_written_ = 0;
  }
  while (!broken_ && output_.size() - output_written_ < kOutputHighWater) {
    const std::uint8_t* data = nullptr;
    const auto n = nghttp2_session_mem_send(session_, &data);
    if (n < 0) {
      broken_ = true;
      if (refusal_ == Refusal::none) refusal_ = refusal_for(n);
      break;
    }
    if (n == 0) break;
    output_.append(reinterpret_cast<const char*>(data), static_cast<std::size_t>(n));
  }
  return std::string_view(output_).substr(output_written_);
}

void SessionCore::output_written(std::size_t n) {
  output_written_ = std::min(output_.size(), output_written_ + n);
}

std::string SessionCore::take_output() {
  std::string all;
  for (std::string_view v = pending_output(); !v.empty(); v = pending_output()) {
    all.append(v);
    output_written(v.size());
  }
  return all;
}

bool SessionCore::wants_close() const {
  return broken_ ||
         (nghttp2_session_want_read(session_) == 0 && nghttp2_session_want_write(session_) == 0);
}

bool SessionCore::send_data(StreamId id, std::string_view data) {
  Stream* s = find(id);
  if (s == nullptr || s->out_end) return false;
  s->out.append(data);
  if (s->deferred && s->provider) {
    s->deferred = false;
    nghttp2_session_resume_data(session_, id);
  }
  return true;
}

bool SessionCore::end_stream(StreamId id, std::span<const HeaderField> trailers) {
  Stream* s = find(id);
  if (s == nullptr || s->out_end) return false;
  s->out_end = true;
  s->out_trailers = !trailers.empty();
  s->trailers.clear();
  for (const HeaderField& f : trailers) s->trailers.add(f.name, f.value);
  if (s->deferred && s->provider) {
    s->deferred = false;
    nghttp2_session_resume_data(session_, id);
  }
  return true;
}

bool SessionCore::reset_stream(StreamId id, std::uint32_t error_code) {
  return nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, id, error_code) == 0;
}

void SessionCore::consume(StreamId id, std::size_t n) {
  Stream* s = find(id);
  if (s == nullptr) return;  // closed: its bytes went back to the connection then
  n = static_cast<std::size_t>(std::min<std::uint64_t>(n, s->unconsumed));
  s->unconsumed -= n;
  if (n > 0) nghttp2_session_consume(session_, id, n);
}

std::size_t SessionCore::buffered(StreamId id) const {
  const Stream* s = find(id);
  return s == nullptr ? 0 : s->buffered();
}

Stream& SessionCore::new_stream(StreamId id) {
  if (free_.empty()) {
    streams_.push_back(std::make_unique<Stream>());
    free_.push_back(streams_.back().get());
  }
  Stream& s = *free_.back();
  free_.pop_back();
  s.id = id;
  s.in_use = true;
  ++open_streams_;
  return s;
}

void SessionCore::free_stream(Stream& s) {
  if (!s.in_use) return;
  --open_streams_;
  // Reset to a fresh stream but keep the buffers' capacity, unless a large body grew them.
  std::string out = std::move(s.out);
  HeaderBlock block = std::move(s.block);
  HeaderBlock trailers = std::move(s.trailers);
  s = Stream{};
  if (out.capacity() <= kKeepCapacity) {
    out.clear();
    s.out = std::move(out);
  }
  block.clear();
  trailers.clear();
  s.block = std::move(block);
  s.trailers = std::move(trailers);
  free_.push_back(&s);
}

Stream* SessionCore::find(StreamId id) const {
  if (Stream* s = Callbacks::stream(session_, id)) return s;
  // A client's request not yet sent has no nghttp2 stream to hold its user data.
  for (const auto& s : streams_) {
    if (s->in_use && s->id == id) return s.get();
  }
  return nullptr;
}

bool SessionCore::refuse_stream(Stream& s, Refusal reason) {
  s.refused = true;
  on_stream_refused(s, reason);
  return glitch();
}

bool SessionCore::glitch() {
  const Refusal r = guard_.on_glitch(now_);
  if (r == Refusal::none) return true;
  if (refusal_ == Refusal::none) refusal_ = r;
  return false;
}

void SessionCore::build_nv(std::span<const HeaderField> first, std::span<const HeaderField> rest) {
  nv_.clear();
  auto add = [this](const HeaderField& f) {
    nv_.push_back({reinterpret_cast<std::uint8_t*>(const_cast<char*>(f.name.data())),
                   reinterpret_cast<std::uint8_t*>(const_cast<char*>(f.value.data())),
                   f.name.size(), f.value.size(), NGHTTP2_NV_FLAG_NONE});
  };
  for (const HeaderField& f : first) add(f);
  for (const HeaderField& f : rest) add(f);
}

std::span<const HeaderField> SessionCore::regular_fields(const HeaderBlock& block) {
  fields_.clear();
  for (std::size_t i = 0; i < block.size(); ++i) {
    const HeaderField f = block.field(i);
    if (!f.name.starts_with(':')) fields_.push_back(f);
  }
  return fields_;
}

nghttp2_data_provider SessionCore::provider_for(Stream& s) {
  s.provider = true;
  nghttp2_data_provider p{};
  p.source.ptr = &s;
  p.read_callback = &Callbacks::read_out;
  return p;
}

}  // namespace mlsidecar::h2::detail
