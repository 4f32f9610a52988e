// The data port's HTTP/2 connections: gRPC calls relayed to the model. See h2_session.h.
//
// One H2Session per connection, on its I/O thread. The bytes go:
//   socket -> ServerConnection::feed -> events -> GrpcCall -> GrpcUpstream (model's gRPC port)
//   model  -> GrpcUpstream -> GrpcCall -> ServerConnection::send_data -> write loop -> socket
// Flow control is end to end (docs/http2.md): a request byte is returned to the client's window
// (consume) only once it has left towards the model, a response byte to the model's window only
// once it has left towards the client.
#include "sidecar/h2_session.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/write.hpp>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "metrics/grpc_metrics.h"
#include "policies/admission_controller.h"
#include "sidecar/admission_wait.h"
#include "sidecar/config.h"
#include "sidecar/grpc_upstream.h"
#include "sidecar/h2/grpc.h"
#include "sidecar/h2/server_connection.h"
#include "sidecar/io_thread.h"
#include "sidecar/request_chain.h"
#include "sidecar/state.h"

namespace mlsidecar {

namespace asio = boost::asio;
using boost::system::error_code;
using Clock = std::chrono::steady_clock;
using h2::GrpcStatus;

namespace {

constexpr std::size_t kReadSize = 16 * 1024;
constexpr std::uint32_t kCancel = 8;
constexpr std::uint32_t kInternalError = 2;
// Request bytes kept for a replay on another connection when the model refuses a stream
// unprocessed; a call that sent more is not replayed.
constexpr std::size_t kReplayLimit = 64 * 1024;
// Between the drain's first GOAWAY (new streams still admitted) and the final one.
constexpr auto kGoawayGrace = std::chrono::milliseconds(500);

// The HTTP status a gRPC status stands for in the request families (mlsidecar_requests_total
// and the latency histograms count every call by HTTP status class), as gRPC-gateway maps them:
// a model's INTERNAL is a 5xx in the SLO rules, a client's bad argument a 4xx.
unsigned http_status_of(GrpcStatus s) {
  switch (s) {
    case GrpcStatus::ok:
      return 200;
    case GrpcStatus::cancelled:
      return 499;
    case GrpcStatus::invalid_argument:
    case GrpcStatus::failed_precondition:
    case GrpcStatus::out_of_range:
      return 400;
    case GrpcStatus::deadline_exceeded:
      return 504;
    case GrpcStatus::not_found:
      return 404;
    case GrpcStatus::already_exists:
    case GrpcStatus::aborted:
      return 409;
    case GrpcStatus::permission_denied:
      return 403;
    case GrpcStatus::resource_exhausted:
      return 429;
    case GrpcStatus::unimplemented:
      return 501;
    case GrpcStatus::unavailable:
      return 503;
    case GrpcStatus::unauthenticated:
      return 401;
    default:
      return 500;
  }
}

// Fields that describe one hop, never relayed (RFC 9113 8.2.2 forbids them in HTTP/2 anyway).
bool hop_by_hop(std::string_view name) {
  return name == "connection" || name == "keep-alive" || name == "proxy-connection" ||
         name == "transfer-encoding" || name == "upgrade" || name == "host";
}

// Header fields copied out of an event into one buffer, with views into it.
class OwnedFields {
 public:
  void assign(std::span<const h2::HeaderField> fields) {
    std::size_t total = 0;
    for (const auto& f : fields) total += f.name.size() + f.value.size();
    storage_.clear();
    storage_.reserve(total);
    views_.clear();
    views_.reserve(fields.size());
    std::vector<std::pair<std::size_t, std::size_t>> at;
    for (const auto& f : fields) {
      if (hop_by_hop(f.name)) continue;
      at.emplace_back(storage_.size(), f.name.size());
      storage_.append(f.name);
      at.emplace_back(storage_.size(), f.value.size());
      storage_.append(f.value);
    }
    for (std::size_t i = 0; i < at.size(); i += 2) {
      views_.push_back({std::string_view(storage_).substr(at[i].first, at[i].second),
                        std::string_view(storage_).substr(at[i + 1].first, at[i + 1].second)});
    }
  }
  std::span<const h2::HeaderField> fields() const { return views_; }

 private:
  std::string storage_;
  std::vector<h2::HeaderField> views_;
};

std::optional<GrpcStatus> grpc_status_in(std::span<const h2::HeaderField> fields) {
  for (const auto& f : fields) {
    if (f.name == "grpc-status") return h2::parse_grpc_status(f.value);
  }
  return std::nullopt;
}

}  // namespace

class H2Session;

// One gRPC call: a stream of the client's connection and, once admitted, a stream to the model.
class GrpcCall final : public UpstreamCall {
 public:
  GrpcCall(H2Session& session, h2::StreamId id, const h2::RequestHead& head, Clock::time_point now);
  ~GrpcCall();

  h2::RequestLine request_line() const override {
    return {.method = method_, .scheme = "http", .authority = authority_, .path = path_};
  }
  std::span<const h2::HeaderField> request_headers() const override { return headers_.fields(); }
  void upstream_opened() override;
  void upstream_failed(bool timeout) override;
  void upstream_head(const h2::ResponseHead& head) override;
  void upstream_data(std::string_view data) override;
  void upstream_trailers(std::span<const h2::HeaderField> trailers) override;
  void upstream_request_data_sent(std::size_t bytes) override;
  void upstream_closed(std::uint32_t error_code, bool retryable) override;

  // From the client's side.
  void admit();
  void request_data(std::string_view data) {
    request_bytes_ += data.size();
    unconsumed_ += data.size();
    forward(data);
  }
  void request_end();
  void response_data_sent(std::size_t bytes);
  void refused(h2::Refusal reason);
  // The client's stream is gone (error_code != 0: the client reset it).
  void closed(std::uint32_t error_code);
  void check_deadline(Clock::time_point now);

 private:
  void go_upstream();
  void forward(std::string_view data);
  // Ends the call with an error the sidecar produces: trailers-only when no response head went
  // out, else trailers after what was relayed (or a reset, when that cannot be well-formed).
  void fail(GrpcStatus status, std::string_view message);
  void finish(Clock::time_point now);

  H2Session& s_;
  h2::StreamId id_;
  std::string method_, authority_, path_;
  OwnedFields headers_;
  h2::GrpcMethod grpc_;
  std::string service_, method_name_;
  std::size_t series_;
  Clock::time_point start_;
  Clock::time_point deadline_ = Clock::time_point::max();
  std::optional<InFlight> in_flight_;
  policies::AdmissionPermit permit_;
  std::string pending_;  // request body received before the model's stream opened (unconsumed)
  std::string replay_;   // body sent to the model, kept until its response starts
  bool replayable_ = true;
  bool retried_ = false;
  bool admitted_ = false;
  bool upstream_open_ = false;
  bool upstream_done_ = false;
  bool client_ended_ = false;
  bool response_started_ = false;
  bool answered_ = false;       // the client's response is complete (or reset)
  std::size_t unconsumed_ = 0;  // request bytes received and not yet returned to the client
  std::uint64_t request_bytes_ = 0, response_bytes_ = 0;
  Clock::time_point sent_at_{}, head_at_{};
  std::optional<GrpcStatus> status_;
  h2::GrpcMessageReader response_messages_;
};

class H2Session final : public ConnectionBase,
                        public h2::ServerEvents,
                        public std::enable_shared_from_this<H2Session> {
 public:
  H2Session(IoThread& thread, net::Socket client)
      : thread_(thread),
        state_(thread.state()),
        chain_(thread.chain()),
        config_(state_.config),
        metrics_(thread.metrics()),
        grpc_metrics_(chain_.grpc().shard(thread.index())),
        upstream_(thread.grpc_upstream()),
        client_(std::move(client)),
        wake_(client_.get_executor()),
        conn_(*this, limits(config_)) {
    wake_.expires_at(Clock::time_point::max());
    thread_.link(this);
    state_.connections.fetch_add(1, std::memory_order_relaxed);
    last_active_ = Clock::now();
  }

  ~H2Session() override {
    calls_.clear();  // their destructors still reach this session
    thread_.unlink(this);
    state_.connections.fetch_sub(1, std::memory_order_relaxed);
  }

  static net::Awaitable<void> run(std::shared_ptr<H2Session> self, std::string first_bytes) {
    asio::co_spawn(self->client_.get_executor(), write_loop(self), asio::detached);
    if (self->feed(first_bytes)) co_await self->read_loop();
    self->reading_ = false;
    // The client is gone or refused: every call still open is cancelled at the model.
    for (auto& [id, call] : self->calls_) call->closed(kCancel);
    self->calls_.clear();
    self->kick();
  }

  // ConnectionBase: called on every tick and at drain.
  void check_deadline(Clock::time_point now) override {
    for (auto& [id, call] : calls_) call->check_deadline(now);
    if (drain_at_ != Clock::time_point{} && now >= drain_at_) {
      drain_at_ = {};
      conn_.goaway();
      kick();
    }
    // SIGTERM: as HTTP/1.1 keep-alive connections close after their response, this one is told
    // to go (clients open a new connection, to a ready pod) while its streams finish.
    if (state_.draining.load(std::memory_order_relaxed)) close_if_idle();
    if (calls_.empty() && now - last_active_ > config_.idle_timeout) close();
  }
  void close_if_idle() override {
    // The listener closed: GOAWAY at once (new streams still accepted for a moment, as they may
    // be in flight), the final GOAWAY a little later; streams in flight finish.
    if (goaway_sent_) return;
    goaway_sent_ = true;
    conn_.shutdown_notice();
    drain_at_ = Clock::now() + kGoawayGrace;
    kick();
  }

  // h2::ServerEvents
  void on_request_head(h2::StreamId id, const h2::RequestHead& head) override;
  void on_request_data(h2::StreamId id, std::string_view data) override {
    if (GrpcCall* call = find(id)) call->request_data(data);
  }
  void on_request_end(h2::StreamId id) override {
    if (GrpcCall* call = find(id)) call->request_end();
  }
  void on_response_data_sent(h2::StreamId id, std::size_t bytes) override {
    if (GrpcCall* call = find(id)) call->response_data_sent(bytes);
  }
  void on_stream_close(h2::StreamId id, std::uint32_t error_code) override {
    const auto it = calls_.find(id);
    if (it == calls_.end()) return;
    it->second->closed(error_code);
    calls_.erase(it);
  }
  void on_stream_refused(h2::StreamId id, h2::Refusal reason) override {
    if (GrpcCall* call = find(id)) call->refused(reason);
  }

  // For the calls.
  h2::ServerConnection& conn() { return conn_; }
  GrpcUpstream* upstream() { return upstream_.get(); }
  const RequestChain& chain() const { return chain_; }
  const Config& config() const { return config_; }
  metrics::RequestMetrics::Shard& metrics() { return metrics_; }
  metrics::GrpcMetrics::Shard& grpc_metrics() { return grpc_metrics_; }
  net::Executor executor() { return client_.get_executor(); }
  std::shared_ptr<H2Session> self() { return shared_from_this(); }
  GrpcCall* find(h2::StreamId id) {
    const auto it = calls_.find(id);
    return it == calls_.end() ? nullptr : it->second.get();
  }
  void kick() { wake_.cancel(); }

 private:
  static h2::Limits limits(const Config& config) {
    h2::Limits l;
    l.max_concurrent_streams = config.h2_max_streams;
    l.max_header_list_bytes =
        static_cast<std::uint32_t>(std::min<std::size_t>(config.max_header_bytes, UINT32_MAX));
    l.max_message_bytes = config.grpc_max_message_bytes;
    l.max_request_bytes = config.max_body_bytes;
    return l;
  }

  // False when the connection is over.
  bool feed(std::string_view bytes) {
    last_active_ = Clock::now();
    const h2::FeedResult r = conn_.feed(bytes, last_active_);
    kick();
    if (r.verdict == h2::Verdict::close) {
      if (r.reason != h2::Refusal::none) refusal_ = r.reason;
      return false;
    }
    return true;
  }

  net::Awaitable<void> read_loop() {
    char buf[kReadSize];
    for (;;) {
      error_code ec;
      const std::size_t n = co_await client_.async_read_some(asio::buffer(buf), net::redirect(ec));
      if (ec) co_return;
      if (!feed(std::string_view(buf, n))) co_return;
    }
  }

  static net::Awaitable<void> write_loop(std::shared_ptr<H2Session> self) {
    for (;;) {
      const std::string_view out =
          self->closed_ ? std::string_view{} : self->conn_.pending_output();
      if (!out.empty()) {
        error_code ec;
        const std::size_t n =
            co_await asio::async_write(self->client_, asio::buffer(out), net::redirect(ec));
        if (ec) break;
        self->conn_.output_written(n);
        self->last_active_ = Clock::now();
        continue;
      }
      if (self->closed_ || !self->reading_ || self->conn_.wants_close()) break;
      error_code ec;
      co_await self->wake_.async_wait(net::redirect(ec));
    }
    self->close();
  }

  void close() {
    if (closed_) return;
    closed_ = true;
    error_code ignored;
    client_.shutdown(net::Socket::shutdown_both, ignored);
    client_.close(ignored);
    kick();
  }

  IoThread& thread_;
  SidecarState& state_;
  const RequestChain& chain_;
  const Config& config_;
  metrics::RequestMetrics::Shard& metrics_;
  metrics::GrpcMetrics::Shard& grpc_metrics_;
  std::shared_ptr<GrpcUpstream> upstream_;
  net::Socket client_;
  net::Timer wake_;
  h2::ServerConnection conn_;
  std::unordered_map<h2::StreamId, std::unique_ptr<GrpcCall>> calls_;
  Clock::time_point last_active_;
  Clock::time_point drain_at_{};
  h2::Refusal refusal_ = h2::Refusal::none;
  bool reading_ = true;
  bool closed_ = false;
  bool goaway_sent_ = false;
};

void H2Session::on_request_head(h2::StreamId id, const h2::RequestHead& head) {
  if (!head.grpc) {
    // HTTP/2 without gRPC is not relayed (HTTP/1.1 on the same port is): say so plainly.
    static constexpr std::string_view kBody =
        R"({"error":"HTTP/2 is relayed for gRPC only; send other requests over HTTP/1.1",)"
        R"("code":"h2_not_grpc"})";
    const h2::HeaderField fields[] = {{"content-type", "application/json"}};
    if (conn_.submit_response(id, 505, fields)) {
      conn_.send_data(id, kBody);
      conn_.end_response(id);
    }
    metrics_.refused(metrics::Refusal::bad_request);
    return;
  }
  auto call = std::make_unique<GrpcCall>(*this, id, head, Clock::now());
  GrpcCall* c = call.get();
  calls_.emplace(id, std::move(call));
  c->admit();
}

// ---- GrpcCall ----

GrpcCall::GrpcCall(H2Session& session, h2::StreamId id, const h2::RequestHead& head,
                   Clock::time_point now)
    : s_(session),
      id_(id),
      method_(head.method),
      authority_(head.authority),
      path_(head.path),
      grpc_(h2::classify_grpc_path(path_)),
      service_(grpc_.service),
      method_name_(grpc_.method),
      series_(s_.chain().metrics().model_index({}, {})),
      start_(now),
      client_ended_(head.end_stream) {
  headers_.assign(head.headers);
  if (authority_.empty()) authority_ = s_.config().grpc_upstream;
  if (!head.grpc_timeout.empty()) {
    if (const auto timeout = h2::parse_grpc_timeout(head.grpc_timeout)) {
      if (*timeout < Clock::time_point::max() - now) deadline_ = now + *timeout;
    }
  }
  in_flight_.emplace(s_.metrics(), s_.chain().signals(), now, grpc_.route != Route::health);
}

GrpcCall::~GrpcCall() {
  if (GrpcUpstream* up = s_.upstream()) up->forget(*this, kCancel);
}

void GrpcCall::admit() {
  if (!s_.upstream()) {
    fail(GrpcStatus::unavailable, "mlsidecar has no --grpc-upstream for gRPC calls");
    return;
  }
  if (!s_.chain().admission_limited() || grpc_.route == Route::health) {
    admitted_ = true;
    go_upstream();
    return;
  }
  // A long-lived stream is admitted once and holds its slot for its life, as an SSE request does.
  asio::co_spawn(
      s_.executor(),
      [](std::shared_ptr<H2Session> session, h2::StreamId id) -> net::Awaitable<void> {
        GrpcCall* call = session->find(id);
        if (!call) co_return;
        AdmissionWait wait(session->executor());
        policies::AdmissionPermit permit;
        const Failure failure =
            co_await wait.admit(session->chain().admission(), session->chain().signals(),
                                session->config().queue_timeout, permit);
        call = session->find(id);  // the client may have left while it waited
        if (!call) co_return;
        if (failure != Failure::none) {
          call->fail(GrpcStatus::unavailable, failure == Failure::queue_timeout
                                                  ? "the model's queue timed out (shed)"
                                                  : "the model is at its concurrency limit (shed)");
          co_return;
        }
        call->permit_ = std::move(permit);
        call->admitted_ = true;
        call->go_upstream();
      }(s_.self(), id_),
      asio::detached);
}

void GrpcCall::go_upstream() {
  if (answered_) return;
  sent_at_ = Clock::now();
  s_.upstream()->open(*this);
}

void GrpcCall::upstream_opened() {
  upstream_open_ = true;
  if (!pending_.empty()) {
    std::string body = std::move(pending_);
    pending_.clear();
    if (!replay_.empty()) body.insert(0, replay_);  // a replay: what the first try sent, first
    replay_.clear();
    forward(body);
  } else if (!replay_.empty()) {
    std::string body = std::move(replay_);
    replay_.clear();
    forward(body);
  }
  if (client_ended_) s_.upstream()->end_request(*this);
}

void GrpcCall::upstream_failed(bool timeout) {
  s_.metrics().upstream_error(timeout ? metrics::UpstreamError::connect_timeout
                                      : metrics::UpstreamError::connect_failed);
  fail(GrpcStatus::unavailable, timeout ? "the model's gRPC port did not answer in time"
                                        : "the model's gRPC port is unreachable");
}

void GrpcCall::forward(std::string_view data) {
  if (answered_) return;
  if (!upstream_open_) {
    // Held, not consumed: the client's window stays shut for it until the model's stream opens.
    pending_.append(data);
    return;
  }
  if (replayable_ && !response_started_) {
    if (replay_.size() + data.size() <= kReplayLimit) {
      replay_.append(data);
    } else {
      replayable_ = false;
      replay_.clear();
      replay_.shrink_to_fit();
    }
  }
  s_.upstream()->send_data(*this, data);
}

void GrpcCall::request_end() {
  client_ended_ = true;
  if (upstream_open_) s_.upstream()->end_request(*this);
}

void GrpcCall::upstream_request_data_sent(std::size_t bytes) {
  const std::size_t n = std::min(bytes, unconsumed_);
  unconsumed_ -= n;
  if (n > 0) {
    s_.conn().consume(id_, n);
    s_.kick();
  }
}

void GrpcCall::upstream_head(const h2::ResponseHead& head) {
  if (answered_) return;
  head_at_ = Clock::now();
  response_started_ = true;
  replay_.clear();
  replay_.shrink_to_fit();
  if (!head.grpc_status.empty()) status_ = h2::parse_grpc_status(head.grpc_status);
  if (!status_ && head.status != 200) status_ = h2::grpc_status_from_http(head.status);
  s_.conn().submit_response(id_, head.status, head.headers, head.end_stream);
  if (head.end_stream) answered_ = true;
  s_.kick();
}

void GrpcCall::upstream_data(std::string_view data) {
  if (answered_) {
    s_.upstream()->consume(*this, data.size());
    return;
  }
  response_bytes_ += data.size();
  std::string_view rest = data;
  while (response_messages_.next(rest)) {
  }
  s_.conn().send_data(id_, data);
  s_.kick();
}

void GrpcCall::response_data_sent(std::size_t bytes) {
  if (upstream_open_) s_.upstream()->consume(*this, bytes);
}

void GrpcCall::upstream_trailers(std::span<const h2::HeaderField> trailers) {
  if (answered_) return;
  if (const auto status = grpc_status_in(trailers)) status_ = status;
  answered_ = true;
  s_.conn().end_response(id_, trailers);
  s_.kick();
}

void GrpcCall::upstream_closed(std::uint32_t error_code, bool retryable) {
  upstream_open_ = false;
  upstream_done_ = true;
  if (answered_) return;
  if (retryable && !retried_ && replayable_ && !response_started_) {
    // The model never processed it: once more, on another connection, with what was sent.
    retried_ = true;
    upstream_done_ = false;
    s_.metrics().upstream_error(metrics::UpstreamError::retried);
    s_.upstream()->open(*this);
    return;
  }
  if (error_code == 0 && response_started_) {
    // The model ended the body without trailers: close the body as it is.
    answered_ = true;
    if (!status_) status_ = GrpcStatus::unknown;
    s_.conn().end_response(id_);
    s_.kick();
    return;
  }
  s_.metrics().upstream_error(metrics::UpstreamError::reset);
  fail(GrpcStatus::unavailable, "the model reset the call");
}

void GrpcCall::refused(h2::Refusal reason) {
  if (reason == h2::Refusal::message_too_large) {
    fail(GrpcStatus::resource_exhausted, "request message larger than --grpc-max-message-bytes (" +
                                             std::to_string(s_.config().grpc_max_message_bytes) +
                                             ")");
  } else if (reason == h2::Refusal::malformed_message) {
    fail(GrpcStatus::internal, "malformed gRPC message framing");
  } else {
    fail(GrpcStatus::resource_exhausted, std::string(h2::refusal_name(reason)));
  }
}

void GrpcCall::fail(GrpcStatus status, std::string_view message) {
  if (answered_) return;
  answered_ = true;
  status_ = status;
  if (GrpcUpstream* up = s_.upstream()) up->forget(*this, kCancel);
  upstream_open_ = false;
  if (!response_started_) {
    s_.conn().submit_grpc_error(id_, status, message);
  } else if (response_messages_.at_boundary()) {
    const std::string code = std::to_string(static_cast<int>(status));
    const std::string encoded = h2::percent_encode_message(message);
    const h2::HeaderField trailers[] = {{"grpc-status", code}, {"grpc-message", encoded}};
    s_.conn().end_response(id_, trailers);
  } else {
    // Half a message went out: no trailer can make it whole.
    s_.conn().reset_stream(id_, kInternalError);
  }
  s_.kick();
}

void GrpcCall::check_deadline(Clock::time_point now) {
  if (now < deadline_ || answered_) return;
  deadline_ = Clock::time_point::max();
  fail(GrpcStatus::deadline_exceeded, "grpc-timeout reached");
}

void GrpcCall::closed(std::uint32_t error_code) {
  if (error_code != 0 && !answered_) {
    // The client reset the stream: the model's stream is cancelled too.
    answered_ = true;
    status_ = GrpcStatus::cancelled;
    s_.metrics().refused(metrics::Refusal::client_aborted);
  }
  if (GrpcUpstream* up = s_.upstream()) up->forget(*this, kCancel);
  finish(Clock::now());
}

void GrpcCall::finish(Clock::time_point now) {
  const GrpcStatus status = status_.value_or(answered_ ? GrpcStatus::ok : GrpcStatus::cancelled);
  metrics::RequestSample sample;
  sample.series = series_;
  sample.route = grpc_.route;
  sample.status = http_status_of(status);
  sample.duration_seconds = std::chrono::duration<double>(now - start_).count();
  if (sent_at_ != Clock::time_point{}) {
    sample.upstream_seconds = std::chrono::duration<double>(now - sent_at_).count();
  }
  if (head_at_ != Clock::time_point{}) {
    sample.first_byte_seconds = std::chrono::duration<double>(head_at_ - start_).count();
  }
  sample.request_bytes = request_bytes_;
  sample.response_bytes = response_bytes_;
  in_flight_->finish(sample, now);
  const std::size_t method = grpc_.known || !service_.empty()
                                 ? s_.chain().grpc().method_index(service_, method_name_)
                                 : s_.chain().grpc().method_index("other", "other");
  s_.grpc_metrics().call_finished(series_, method, static_cast<std::size_t>(status));
  permit_.reset();
}

void start_h2_session(IoThread& thread, net::Socket client, std::string_view first_bytes) {
  auto session = std::make_shared<H2Session>(thread, std::move(client));
  asio::co_spawn(session->executor(), H2Session::run(session, std::string(first_bytes)),
                 asio::detached);
}

}  // namespace mlsidecar
